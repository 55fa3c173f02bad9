"""The front desk's checkout in a real browser: find the client, add services
(rows added by the page's script), pay with points, quote, record, and find the
visit's lines on its page.

Catalogue: a 60-minute massage at 3000.00 and an aromatherapy add-on at 500.00.
Anna is Silver (10% off every visit) with 1 150 points (150 earned on her
first visit).
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from members.models import Member, Visit
from tests.browser.conftest import expect, snapshot
from tests.factories import MemberFactory
from tests.rewards.conftest import give_points, tier_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHECKOUT = "/admin/rewards/checkout/"
CARD_CODE = "AB3K7Q9XYZ"


@pytest.fixture
def anna(program_defaults, record_visit):
    """Silver, with one visit behind her and 1 000 points given (1 150 in all)."""
    anna = MemberFactory(first_name="Anna", last_name="Smirnova", phone="+79161234567")
    record_visit(anna, paid_at=timezone.now() - timedelta(days=20))
    tier_set(anna, "silver")
    give_points(anna, 1000)
    return anna


def find_member(page, term: str) -> None:
    """Type ``term`` into the search box and press Enter.

    Typing asks the server for suggestions (after a short pause); the search
    is sent once that answer is in, so no request of the page is left in
    flight.
    """
    search = page.get_by_role("searchbox", name="Find the client")
    with page.expect_response(re.compile(r"/admin/autocomplete/\?")):
        search.fill(term)
    search.press("Enter")
    page.wait_for_url(re.compile(r"[?&]find="))


def choose_service(page, row, service, typed: str) -> None:
    """Pick ``service`` on a service row, as the desk does.

    The row's select is searchable (select2): open it unless the page already
    did (a row added by "+ Add a service" opens for typing), type, press Enter.
    A plain select, should the page have no select2, is chosen directly.
    """
    picker = row.locator(".select2-selection")
    if not picker.count():
        row.get_by_role("combobox").select_option(str(service.pk))
        return
    if picker.get_attribute("aria-expanded") != "true":
        picker.click()
    search = page.locator(".select2-container--open .select2-search__field")
    search.fill(typed)
    expect(page.locator(".select2-results__option--highlighted")).to_contain_text(
        service.name
    )
    search.press("Enter")
    expect(row.locator(".select2-selection__rendered")).to_contain_text(service.name)


def test_the_front_desk_checks_out_a_regular(desk, anna, location, service, addon):
    page = desk
    page.goto(CHECKOUT)

    # Typing the phone (any format) suggests Anna; Enter opens her card
    search = page.get_by_role("searchbox", name="Find the client")
    search.fill("8 916 123-45-67")
    expect(page.locator("#rw-suggest a")).to_have_text([re.compile("Anna Smirnova")])
    search.press("Enter")
    card = page.locator("#rw-member")
    expect(card).to_contain_text("Anna Smirnova")
    expect(card).to_contain_text("Silver")
    expect(card).to_contain_text(re.compile(r"Points: 1,?150"))  # +150 earned

    # Three empty service rows; "+ Add a service" adds a fourth, and choosing a
    # service on the last row adds another
    rows = page.locator("#rw-lines-body tr")
    expect(rows).to_have_count(3)
    choose_service(page, rows.nth(0), service, "classic")
    page.get_by_role("button", name="Add a service").click()
    expect(rows).to_have_count(4)
    choose_service(page, rows.nth(3), addon, "aroma")
    expect(rows).to_have_count(5)
    rows.nth(3).get_by_role("spinbutton").fill("2")

    # 300 points towards the bill, then Quote
    page.get_by_label("Pay with points").fill("300")
    page.get_by_role("button", name="Quote", exact=True).click()

    # 4000.00 gross, Silver 10% → 3600.00, 300 points → 3300.00 to pay
    quote = page.locator("#rw-quote")
    expect(quote.locator("tbody tr")).to_have_count(2)
    expect(quote.locator("tbody tr").nth(0)).to_contain_text("Classic massage, 60 min")
    expect(quote.locator("tbody tr").nth(1)).to_contain_text("Aromatherapy add-on")
    expect(quote).to_contain_text("Silver tier discount 10%")
    expect(quote.locator(".rw-topay")).to_have_text(re.compile(r"To pay: 3,300\s₽"))
    expect(quote.locator(".rw-earn")).to_contain_text(re.compile(r"Earns \d+ points"))
    snapshot(page, "checkout-quote")

    # Record: the done page shows what was paid and earned
    page.get_by_role("button", name="Record paid visit").click()
    page.wait_for_url(re.compile(r"/admin/rewards/checkout/done/\d+/$"))
    done = page.locator("#content-main")
    expect(done).to_contain_text(re.compile(r"Paid: 3,300\s₽"))
    expect(done).to_contain_text(re.compile(r"\+\d+ points earned"))
    expect(done).not_to_contain_text("already been recorded")
    snapshot(page, "checkout-done")

    visit = Visit.objects.get(member=anna, recorded_by=page.user)
    assert (visit.status, visit.total, visit.amount_paid) == (
        Visit.Status.PAID,
        Decimal("4000.00"),
        Decimal("3300.00"),
    )
    assert page.url.endswith(reverse("admin:rewards_checkout_done", args=[visit.pk]))

    # The visit's own page lists its lines
    page.get_by_role("link", name="Visit record").click()
    page.wait_for_url(f"**{reverse('admin:members_visit_change', args=[visit.pk])}")
    lines = page.locator("#lines-group tbody tr.form-row")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("Classic massage, 60 min")
    expect(lines.nth(1)).to_contain_text("Aromatherapy add-on")
    expect(lines.nth(1).locator("td.field-quantity")).to_have_text("2")


def test_the_front_desk_finds_a_member_by_phone(desk, anna):
    desk.goto(CHECKOUT)

    find_member(desk, "+7 (916) 123 45 67")

    expect(desk.locator("#rw-member")).to_contain_text("Anna Smirnova")
    # The first service row waits for the desk's pick
    expect(desk.locator("#rw-lines-body tr").first.locator(":focus")).to_have_count(1)


def test_the_front_desk_finds_a_member_by_card_code(desk, anna):
    Member.objects.filter(pk=anna.pk).update(card_code=CARD_CODE)
    desk.goto(CHECKOUT)

    # Typed by hand from the card: any case, dashes ignored
    find_member(desk, "ab3k-7q9x-yz")

    expect(desk.locator("#rw-member")).to_contain_text("Anna Smirnova")
