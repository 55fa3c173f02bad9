"""The front desk's checkout page: find the member, quote, record once.

Catalogue: a 60-minute massage at 3000.00 and an aromatherapy add-on at 500.00.
Shipped program: 5 points per 100 paid, 30% of a bill payable by points;
Base gives 5% off the first visit, Silver 10% off every visit (×1.25 points).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from members.cards import member_card_code
from members.models import Member, Visit
from rewards.forms import token_new
from rewards.models import LedgerEntry, TierChange, VisitBenefit, Voucher
from rewards.services import reward_redeem
from tests.conftest import moscow
from tests.factories import LocationFactory, MemberFactory, RewardFactory
from tests.rewards.conftest import balances, give_points, state_of, tier_set

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
URL = "/admin/rewards/checkout/"


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def anna(db):
    return MemberFactory(first_name="Anna", last_name="Smirnova", phone="+79161234567")


@pytest.fixture
def regular(anna, record_visit):
    """Anna, a Silver member with one visit behind her and 1 000 points."""
    record_visit(anna, paid_at=NOW - timedelta(days=20))
    tier_set(anna, "silver")
    give_points(anna, 1000)
    return anna


def form_data(member, location, lines, *, quoted=None, token=None, **fields) -> dict:
    """POST data of the checkout form: the fields plus four service-line forms."""
    data = {
        "member": str(member.pk),
        "location": str(location.pk),
        "voucher_codes": "",
        "points": "",
        "note": "",
        "token": token or token_new(),
        "quoted_amount": "" if quoted is None else str(quoted),
        "lines-TOTAL_FORMS": "4",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "30",
    }
    for i in range(4):
        service, quantity = lines[i] if i < len(lines) else (None, 1)
        data[f"lines-{i}-service"] = str(service.pk) if service else ""
        data[f"lines-{i}-quantity"] = str(quantity)
    data.update(fields)
    return data


def quote_and_commit(client, data) -> tuple:
    """Press Quote, then Record paid visit on the page the quote returned."""
    quoted = client.post(URL, {**data, "quote": "1"})
    assert quoted.status_code == 200
    assert quoted.context["quote"] is not None, quoted.context["form"].errors
    amount = quoted.context["quote"].amount_to_pay
    committed = client.post(URL, {**data, "quoted_amount": str(amount), "commit": "1"})
    return quoted, committed


# --- Finding the member -----------------------------------------------------------


def test_empty_page_asks_for_the_member(front_desk_client):
    response = front_desk_client.get(URL)

    assert response.status_code == 200
    assert response.context["card"] is None
    assert 'id="rw-find"' in response.content.decode()


@pytest.mark.parametrize(
    "term", ["8 916 123-45-67", "+7 (916) 123 45 67", "79161234567", "#{pk}"]
)
def test_finding_the_member_by_phone_or_number(front_desk_client, anna, term):
    MemberFactory(phone="+79261234567")  # shares the last digits

    response = front_desk_client.get(URL, {"find": term.format(pk=anna.pk)})

    assert response.context["card"]["member"] == anna
    assert response.context["form"].initial["member"] == anna.pk
    assert "Anna Smirnova" in response.content.decode()


@pytest.mark.parametrize("code", [None, "8459XGTCS4"])
def test_finding_the_member_by_a_voucher_code(front_desk_client, anna, code):
    """Scanned or typed, any case; even a code whose letters the phone library
    would read as a keypad's ("8459XGTCS4" spells +7 845 994-82-74)."""
    give_points(anna, 500)
    voucher = reward_redeem(
        member=anna, reward=RewardFactory(points_cost=100), idempotency_key="k"
    )
    if code:  # codes are random: pin one that looks like a phone number
        Voucher.objects.filter(pk=voucher.pk).update(code=code)
        voucher.code = code

    response = front_desk_client.get(URL, {"find": voucher.code.lower()})

    assert response.context["card"]["member"] == anna


def test_a_few_digits_list_the_candidates(front_desk_client, anna):
    boris = MemberFactory(first_name="Boris", phone="+79264567000")
    MemberFactory(phone="+79031110000")

    response = front_desk_client.get(URL, {"find": "4567"})

    assert response.context["card"] is None
    assert set(response.context["candidates"]) == {anna, boris}
    assert f'href="?member={boris.pk}"' in response.content.decode()


def test_nobody_found(front_desk_client, anna):
    response = front_desk_client.get(URL, {"find": "8 903 000-00-00"})

    assert response.context["card"] is None
    assert "No member found." in response.content.decode()


def test_finding_the_member_by_the_card_the_app_shows(
    front_desk_client, member_api, anna
):
    # Given the code the app shows as the member's card (and in its QR code)
    code = member_api(anna).get(reverse("api-me-card")).json()["card_code"]
    MemberFactory(phone="+79261234567")

    # When the desk types it as people read it, or a scanner sends it
    for typed in (
        code,
        code.lower(),
        f" {code[:5]}-{code[5:]} ",
        code[:5] + " " + code[5:],
    ):
        response = front_desk_client.get(URL, {"find": typed})

        # Then the member is selected
        assert response.context["card"]["member"] == anna, typed
        assert response.context["form"].initial["member"] == anna.pk
        assert response.context["voucher_note"] is None
        assert "No member found." not in response.content.decode()


@pytest.mark.parametrize("code", ["8459XGTCS4", "2345678923"])
def test_a_card_code_the_phone_library_would_misread(front_desk_client, anna, code):
    """Letters a keypad spells, or only digits: a card's code is looked up first."""
    Member.objects.filter(pk=anna.pk).update(card_code=code)

    response = front_desk_client.get(URL, {"find": code.lower()})

    assert response.context["card"]["member"] == anna


def test_an_unknown_card_code_finds_nobody(front_desk_client, anna):
    member_card_code(anna)

    response = front_desk_client.get(URL, {"find": "K7M2QXA9HB"})

    assert response.context["card"] is None
    assert "No member found." in response.content.decode()


def test_an_erased_members_card_finds_nobody(front_desk_client, anna):
    Member.objects.filter(pk=anna.pk).update(
        card_code="K7M2QXA9HB", status=Member.Status.ERASED
    )

    response = front_desk_client.get(URL, {"find": "K7M2QXA9HB"})

    assert response.context["card"] is None


def test_a_voucher_code_selects_its_holder_and_applies_the_voucher(
    front_desk_client, regular, location, service
):
    # Given Anna's 10% voucher, shown on her phone
    voucher = reward_redeem(
        member=regular,
        reward=RewardFactory(name="Extra 10%", points_cost=100),
        idempotency_key="k",
    )

    # When the desk scans it into the search
    response = front_desk_client.get(URL, {"find": voucher.code.lower()})

    # Then Anna is selected and the voucher is on the bill
    assert response.context["card"]["member"] == regular
    form = response.context["form"]
    assert form.initial["voucher_codes"] == voucher.code
    page = response.content.decode()
    assert f'value="{voucher.code}"' in page
    assert response.context["voucher_note"]["applied"] is True
    assert f"Voucher {voucher.code} (Extra 10%) is applied" in page

    # and the quote of the form as shown prices it
    quoted = front_desk_client.post(
        URL,
        form_data(
            regular,
            location,
            [(service, 1)],
            voucher_codes=form.initial["voucher_codes"],
            quote="1",
        ),
    )
    assert [b.kind for b in quoted.context["quote"].benefits] == [
        "tier_discount",
        "voucher",
    ]


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("used", "was used already"),
        ("cancelled", "was cancelled"),
        ("expired", "expired on"),
        ("outside_the_bill", "is given outside the bill"),
    ],
)
def test_a_voucher_that_cannot_be_applied_still_finds_its_holder(
    front_desk_client, regular, state, says
):
    reward = (
        RewardFactory(name="Coffee", kind="partner", discount_percent=None)
        if state == "outside_the_bill"
        else RewardFactory(name="Extra 10%")
    )
    voucher = reward_redeem(member=regular, reward=reward, idempotency_key="k")
    if state == "expired":
        Voucher.objects.filter(pk=voucher.pk).update(
            valid_until=NOW - timedelta(days=1)
        )
    elif state in ("used", "cancelled"):
        Voucher.objects.filter(pk=voucher.pk).update(status=state)

    response = front_desk_client.get(URL, {"find": voucher.code})

    assert response.context["card"]["member"] == regular
    assert response.context["form"].initial["voucher_codes"] == ""
    note = response.context["voucher_note"]
    assert note["applied"] is False
    assert says in note["text"]
    assert 'id="rw-voucher-note"' in response.content.decode()


def test_a_voucher_of_an_erased_member_finds_nobody(front_desk_client, regular):
    voucher = reward_redeem(
        member=regular, reward=RewardFactory(points_cost=100), idempotency_key="k"
    )
    Member.objects.filter(pk=regular.pk).update(status=Member.Status.ERASED)

    response = front_desk_client.get(URL, {"find": voucher.code})

    assert response.context["card"] is None
    assert response.context["voucher_note"] is None


def test_a_code_that_is_one_persons_card_and_anothers_voucher_lists_both(
    front_desk_client, regular
):
    """Codes of both kinds are drawn from one alphabet: should two ever meet,
    the desk picks the client, and no voucher is put on anyone's bill."""
    boris = MemberFactory(first_name="Boris")
    voucher = reward_redeem(
        member=regular, reward=RewardFactory(points_cost=100), idempotency_key="k"
    )
    Member.objects.filter(pk=boris.pk).update(card_code=voucher.code)

    response = front_desk_client.get(URL, {"find": voucher.code})

    assert response.context["card"] is None
    assert {m.pk for m in response.context["candidates"]} == {regular.pk, boris.pk}
    assert response.context["voucher_note"] is None


def test_the_page_remembers_the_desk_location(front_desk_client, anna, service):
    LocationFactory()
    mine = LocationFactory(name="Arbat")
    front_desk_client.post(URL, form_data(anna, mine, [(service, 1)], quote="1"))

    response = front_desk_client.get(URL, {"member": anna.pk})

    assert response.context["form"].initial["location"] == mine.pk


# --- Quote ------------------------------------------------------------------------


def test_quote_shows_the_breakdown_line_by_line(
    front_desk_client, regular, location, service, addon
):
    before = state_of(regular)

    response = front_desk_client.post(
        URL,
        form_data(
            regular, location, [(service, 1), (addon, 2)], points="300", quote="1"
        ),
    )

    assert response.status_code == 200
    quote = response.context["quote"]
    # 4000.00 gross, Silver 10% → 3600.00, 300 points → 3300.00 to pay
    assert (quote.total, quote.discount_total, quote.amount_to_pay) == (
        Decimal("4000.00"),
        Decimal("400.00"),
        Decimal("3300.00"),
    )
    page = response.content.decode()
    assert "Silver tier discount 10%" in page
    assert "300 points (300.00&nbsp;₽)" in page or "300 points (300.00\u00a0₽)" in page
    assert "To pay: 3,300\u00a0₽" in page
    assert f"Earns {quote.points_to_earn} points" in page
    assert quote.earn_explanation in page
    assert "Record paid visit" in page
    assert response.context["form"].data["quoted_amount"] == "3300.00"
    # A quote writes nothing
    assert state_of(regular) == before


def test_first_visit_quote_explains_the_welcome_discount(
    front_desk_client, anna, location, service
):
    response = front_desk_client.post(
        URL, form_data(anna, location, [(service, 1)], quote="1")
    )

    page = response.content.decode()
    assert "Welcome discount 5% on the first visit" in page
    assert response.context["quote"].amount_to_pay == Decimal("2850.00")


def test_clicking_a_voucher_applies_it(front_desk_client, regular, location, service):
    voucher = reward_redeem(
        member=regular,
        reward=RewardFactory(name="Extra 10%", points_cost=100),
        idempotency_key="k",
    )
    other = reward_redeem(
        member=regular,
        reward=RewardFactory(name="Coffee", kind="partner", discount_percent=None),
        idempotency_key="k2",
    )

    shown = front_desk_client.get(URL, {"member": regular.pk})
    page = shown.content.decode()
    assert f'name="apply_voucher" value="{voucher.code}"' in page
    assert f'name="apply_voucher" value="{other.code}"' not in page

    response = front_desk_client.post(
        URL, form_data(regular, location, [(service, 1)], apply_voucher=voucher.code)
    )

    assert response.context["form"].data["voucher_codes"] == voucher.code
    benefits = response.context["quote"].benefits
    assert [b.kind for b in benefits] == ["tier_discount", "voucher"]
    assert f"Voucher {voucher.code}: 10% off" in response.content.decode()


def test_use_the_most_points_allowed(front_desk_client, regular, location, service):
    response = front_desk_client.post(
        URL, form_data(regular, location, [(service, 1)], use_max_points="1")
    )

    # 30% of 2700.00 after the Silver discount
    assert response.context["quote"].points_used == 810
    assert response.context["form"].data["points"] == "810"


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"voucher_codes": "NOSUCHCODE"}, "voucher_codes", "voucher_not_found"),
        ({"points": "2000"}, "points", "points_insufficient"),
        ({"points": "900"}, "points", "points_over_limit"),
    ],
)
def test_refusals_show_on_the_form(
    front_desk_client, regular, location, service, fields, field, code
):
    before = state_of(regular)

    response = front_desk_client.post(
        URL, form_data(regular, location, [(service, 1)], quote="1", **fields)
    )

    assert response.status_code == 200
    assert response.context["quote"] is None
    errors = response.context["form"].errors.as_data()[field]
    assert [e.code for e in errors] == [code]
    assert 'class="errorlist' in response.content.decode()
    assert state_of(regular) == before


def test_someone_elses_voucher_is_refused(
    front_desk_client, regular, location, service
):
    stranger = MemberFactory()
    give_points(stranger, 500)
    voucher = reward_redeem(
        member=stranger, reward=RewardFactory(points_cost=100), idempotency_key="s"
    )

    response = front_desk_client.post(
        URL,
        form_data(
            regular, location, [(service, 1)], voucher_codes=voucher.code, commit="1"
        ),
    )

    assert "voucher_codes" in response.context["form"].errors
    assert not Visit.objects.filter(member=regular, paid_at=NOW).exists()
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ACTIVE


# --- Record -----------------------------------------------------------------------


def test_recording_the_visit_earns_points(
    front_desk_client, regular, location, service
):
    points_before = balances(regular)[0]
    data = form_data(
        regular, location, [(service, 1)], points="200", note="Window seat"
    )

    quoted, committed = quote_and_commit(front_desk_client, data)

    assert committed.status_code == 302
    visit = Visit.objects.get(member=regular, paid_at=NOW)
    assert committed["Location"] == reverse(
        "admin:rewards_checkout_done", args=[visit.pk]
    )
    quote = quoted.context["quote"]
    assert visit.amount_paid == quote.amount_to_pay == Decimal("2500.00")
    assert visit.external_id == data["token"]
    assert (visit.source, visit.note) == (Visit.Source.ADMIN, "Window seat")
    assert visit.recorded_by == front_desk_client.user
    earn = LedgerEntry.objects.get(visit=visit, kind="earn")
    assert earn.amount == quote.points_to_earn > 0
    assert balances(regular)[0] == points_before - 200 + earn.amount
    assert VisitBenefit.objects.filter(visit=visit).count() == 2

    done = front_desk_client.get(committed["Location"])
    page = done.content.decode()
    assert done.status_code == 200
    assert f"+{earn.amount} points earned" in page
    assert reverse("admin:members_member_change", args=[regular.pk]) in page
    assert "already been recorded" not in page


def test_double_submit_records_once(front_desk_client, regular, location, service):
    data = form_data(regular, location, [(service, 1)])
    _quoted, first = quote_and_commit(front_desk_client, data)

    second = front_desk_client.post(
        URL, {**data, "quoted_amount": "2700.00", "commit": "1"}
    )

    assert first.status_code == second.status_code == 302
    assert Visit.objects.filter(member=regular, paid_at=NOW).count() == 1
    assert LedgerEntry.objects.filter(member=regular, kind="earn").count() == 2
    assert second["Location"] == first["Location"] + "?again=1"
    page = front_desk_client.get(second["Location"]).content.decode()
    assert "nothing was recorded twice" in page


def test_recording_shows_a_tier_upgrade(
    front_desk_client, anna, record_visit, location, service
):
    for days in (50, 40, 30, 20):
        record_visit(anna, paid_at=NOW - timedelta(days=days))

    _quoted, committed = quote_and_commit(
        front_desk_client, form_data(anna, location, [(service, 1)])
    )

    visit = Visit.objects.get(member=anna, paid_at=NOW)
    assert TierChange.objects.filter(visit=visit, reason="upgrade").exists()
    page = front_desk_client.get(committed["Location"]).content.decode()
    assert "Anna moved up to Silver!" in page


def test_record_without_a_quote_shows_the_price_first(
    front_desk_client, regular, location, service
):
    response = front_desk_client.post(
        URL, form_data(regular, location, [(service, 1)], commit="1")
    )

    assert response.status_code == 200
    assert response.context["quote"].amount_to_pay == Decimal("2700.00")
    assert "Check the price with the client" in response.content.decode()
    assert not Visit.objects.filter(member=regular, paid_at=NOW).exists()


def test_record_after_the_price_moved_shows_the_new_price(
    front_desk_client, regular, location, service
):
    # The desk quoted 2700.00, then the client's tier changed meanwhile
    tier_set(regular, "gold")

    response = front_desk_client.post(
        URL, form_data(regular, location, [(service, 1)], quoted="2700.00", commit="1")
    )

    assert response.context["quote"].amount_to_pay == Decimal("2550.00")
    page = response.content.decode()
    assert "The price changed since the quote" in page
    assert response.context["form"].data["quoted_amount"] == "2550.00"
    assert not Visit.objects.filter(member=regular, paid_at=NOW).exists()


def test_a_blocked_member_cannot_check_out(
    front_desk_client, regular, location, service
):
    Member.objects.filter(pk=regular.pk).update(status=Member.Status.BLOCKED)

    response = front_desk_client.post(
        URL, form_data(regular, location, [(service, 1)], quote="1")
    )

    assert "member" in response.context["form"].errors
    assert response.context["quote"] is None


# --- Garbage and permissions ---------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        {"member": "abc"},
        {"member": "999999999999999999999999"},
        {"member": ""},
        {"location": "x"},
        {"lines-0-service": "abc"},
        {"lines-0-service": ""},
        {"lines-0-quantity": "-5"},
        {"lines-0-quantity": "1e9"},
        {"lines-TOTAL_FORMS": "abc"},
        {"lines-TOTAL_FORMS": "100000"},
        {"points": "1e9"},
        {"points": "-1"},
        {"points": "12.5"},
        {"voucher_codes": "'; DROP TABLE rewards_voucher; --"},
        {"voucher_codes": "x" * 500},
        {"token": "../../etc/passwd"},
        {"token": ""},
        {"quoted_amount": "abc"},
        {"apply_voucher": "\x00\x01"},
        {"note": "n" * 1000},
    ],
)
def test_garbage_never_breaks_the_page(
    front_desk_client, regular, location, service, garbage
):
    """Whatever the fields hold, each button answers with the form and its
    errors (or, for garbage that means nothing, records as usual): never a 500."""
    harmless = set(garbage) == {"apply_voucher"}  # normalises to no code at all
    for button in ("quote", "use_max_points", "commit"):
        data = form_data(regular, location, [(service, 1)], quoted="2700.00")
        data.update(garbage)
        data[button] = "1"
        visits = Visit.objects.count()

        response = front_desk_client.post(URL, data)

        if harmless and button == "commit":
            assert response.status_code == 302
            assert Visit.objects.count() == visits + 1
            continue
        assert response.status_code == 200, button
        assert Visit.objects.count() == visits, button
        if not harmless:
            form, lines = response.context["form"], response.context["lines"]
            assert form.errors or lines.total_error_count(), button
            assert response.context["quote"] is None, button


@pytest.mark.parametrize("find", ["#", "#999999999999999999999999", "\x00", "🙂" * 50])
def test_garbage_searches_find_nobody(front_desk_client, anna, find):
    response = front_desk_client.get(URL, {"find": find, "member": "x"})

    assert response.status_code == 200
    assert response.context["card"] is None


def test_analyst_cannot_use_the_checkout(analyst_client, anna, location, service):
    assert analyst_client.get(URL).status_code == 403
    response = analyst_client.post(
        URL, form_data(anna, location, [(service, 1)], quoted="2850.00", commit="1")
    )

    assert response.status_code == 403
    assert not Visit.objects.exists()


def test_manager_uses_the_checkout(manager_client, anna, location, service):
    _quoted, committed = quote_and_commit(
        manager_client, form_data(anna, location, [(service, 1)])
    )

    assert committed.status_code == 302
    assert Visit.objects.get().recorded_by == manager_client.user


def test_member_autocomplete_survives_control_characters(front_desk_client, anna):
    response = front_desk_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "members",
            "model_name": "visit",
            "field_name": "member",
            "term": "Smir\x00nova",
        },
    )

    assert response.status_code == 200


# --- Registering a client the search did not find -----------------------------------

MEMBER_ADD = "/admin/members/member/add/"


def member_form(phone: str, first_name: str = "Vera", **fields) -> dict:
    """POST data of the member add form, as a browser sends it."""
    return {
        "phone": phone,
        "first_name": first_name,
        "last_name": "",
        "email": "",
        "birthday": "",
        "status": "active",
        "registered_at_0": "2025-06-10",
        "registered_at_1": "15:00:00",
        "registration_location": "",
        "preferences": "",
        "referral_code": "",
        "visits-TOTAL_FORMS": "0",
        "visits-INITIAL_FORMS": "0",
        "visits-MIN_NUM_FORMS": "0",
        "visits-MAX_NUM_FORMS": "0",
        **fields,
    }


def test_register_keeps_the_phone_typed_and_comes_back_with_the_new_member(
    front_desk_client, anna, location
):
    # Given a phone nobody has, typed at the checkout
    searched = front_desk_client.get(URL, {"find": "8 903 000-00-00"})
    register = searched.context["register_url"]
    assert f'href="{register.replace("&", "&amp;")}"' in searched.content.decode()

    # When the desk opens "Register a new member"
    form_page = front_desk_client.get(register)

    # Then the form has the phone, normalised, and the desk's location
    assert form_page.status_code == 200
    initial = form_page.context["adminform"].form.initial
    assert str(initial["phone"]) == "+79030000000"
    assert int(initial["registration_location"]) == location.pk

    # and saving it goes back to the checkout on the new member
    saved = front_desk_client.post(
        register,
        member_form("+79030000000", registration_location=str(location.pk)),
        follow=True,
    )
    vera = Member.objects.get(phone="+79030000000")
    assert saved.redirect_chain == [(f"{URL}?member={vera.pk}", 302)]
    assert saved.context["card"]["member"] == vera
    assert saved.context["form"].initial["member"] == vera.pk
    assert "Vera is registered" in saved.content.decode()


def test_register_from_a_name_search_prefills_no_phone(front_desk_client, anna):
    searched = front_desk_client.get(URL, {"find": "Kuznetsova"})

    register = searched.context["register_url"]
    assert "phone=" not in register
    assert "_checkout=1" in register
    form_page = front_desk_client.get(register)
    assert "phone" not in form_page.context["adminform"].form.initial


def test_the_candidates_list_offers_to_register_too(front_desk_client, anna):
    MemberFactory(phone="+79264567000")

    response = front_desk_client.get(URL, {"find": "4567"})

    assert len(response.context["candidates"]) == 2
    assert 'id="rw-register"' in response.content.decode()


@pytest.mark.parametrize("garbage", ["not a phone", "8459XGTCS4", "\x00", "+7" * 40])
def test_the_member_form_drops_a_phone_that_is_none(front_desk_client, garbage):
    response = front_desk_client.get(MEMBER_ADD, {"phone": garbage, "_checkout": "1"})

    assert response.status_code == 200
    assert "phone" not in response.context["adminform"].form.initial


@pytest.mark.parametrize(
    ("button", "goes_to"), [("_continue", "change"), ("_addanother", "add")]
)
def test_the_other_save_buttons_keep_their_way(front_desk_client, button, goes_to):
    response = front_desk_client.post(
        MEMBER_ADD + "?_checkout=1", {**member_form("+79030000001"), button: "1"}
    )

    member = Member.objects.get(phone="+79030000001")
    assert response.status_code == 302
    if goes_to == "change":
        assert response["Location"].startswith(
            reverse("admin:members_member_change", args=[member.pk])
        )
    else:
        assert response["Location"].startswith(MEMBER_ADD)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?_checkout=0",
        "?next=https://evil.example/",
        "?_checkout=https://evil.example/",
    ],
)
def test_without_the_flag_the_member_form_saves_as_usual(front_desk_client, query):
    response = front_desk_client.post(MEMBER_ADD + query, member_form("+79030000002"))

    assert response.status_code == 302
    assert "evil" not in response["Location"]
    assert not response["Location"].startswith(URL)


def test_staff_who_cannot_check_out_stay_on_the_member_pages(client, staff_roles):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("clerk", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="members",
            codename__in=[
                "add_member",
                "view_member",
                "change_member",
                "view_member_contacts",
            ],
        )
    )
    client.force_login(user)

    response = client.post(MEMBER_ADD + "?_checkout=1", member_form("+79030000003"))

    assert response.status_code == 302
    assert not response["Location"].startswith(URL)


# --- The service picker ---------------------------------------------------------------


def test_every_service_line_is_a_searchable_picker(front_desk_client, anna, service):
    response = front_desk_client.get(URL, {"member": anna.pk})

    page = response.content.decode()
    lines = response.context["lines"]
    # The rows shown and the row the script adds: the same searchable select,
    # with the active services by category and their prices
    for field in [*(f["service"] for f in lines), lines.empty_form["service"]]:
        html = str(field)
        assert 'class="rw-searchable"' in html
        assert f'<optgroup label="{service.category.name}">' in html
        assert "Classic massage, 60 min — 3,000\xa0₽" in html
    assert 'id="rw-line-template"' in page
    # Django admin's own jQuery and select2, no outside requests
    for asset in (
        "admin/js/vendor/jquery/jquery",
        "admin/js/vendor/select2/select2.full",
        "admin/js/jquery.init.js",
        "admin/css/vendor/select2/select2",
    ):
        assert asset in page, asset
    assert "matchService" in page


def test_the_picker_speaks_the_pages_language(front_desk_client, anna, settings):
    settings.LANGUAGE_CODE = "ru"
    response = front_desk_client.get(
        URL, {"member": anna.pk}, HTTP_ACCEPT_LANGUAGE="ru"
    )

    page = response.content.decode()
    assert "admin/js/vendor/select2/i18n/ru.js" in page
    assert 'lang="ru"' in str(response.context["lines"].forms[0]["service"])


def test_an_inactive_service_is_not_offered_nor_accepted(
    front_desk_client, regular, location, service, addon
):
    addon.is_active = False
    addon.save()

    shown = front_desk_client.get(URL, {"member": regular.pk})
    assert addon.name not in str(shown.context["lines"].forms[0]["service"])

    response = front_desk_client.post(
        URL, form_data(regular, location, [(addon, 1)], quote="1")
    )
    assert response.context["quote"] is None
    assert response.context["lines"].forms[0].errors["service"]


# --- Payment method -------------------------------------------------------------------


def test_the_quote_asks_how_the_client_pays_card_by_default(
    front_desk_client, regular, location, service
):
    response = front_desk_client.post(
        URL, form_data(regular, location, [(service, 1)], quote="1")
    )

    page = response.content.decode()
    assert 'id="rw-payment"' in page
    for value in ("cash", "card", "online", "gift_certificate"):
        assert f'value="{value}"' in page
    card = str(response.context["form"]["payment_method"])
    assert 'value="card" form="rw-checkout"' in card or (
        'form="rw-checkout"' in card and 'value="card"' in card
    )
    assert response.context["form"]["payment_method"].value() == "card"


def test_the_page_before_a_quote_keeps_the_method_hidden(
    front_desk_client, regular, location, service
):
    shown = front_desk_client.get(URL, {"member": regular.pk})
    page = shown.content.decode()
    assert 'id="rw-payment"' not in page
    assert '<input type="hidden" name="payment_method" value="card">' in page

    # A refused quote keeps what the desk chose
    refused = front_desk_client.post(
        URL,
        form_data(
            regular, location, [(service, 1)], points="99999", payment_method="cash"
        ),
    )
    assert refused.context["quote"] is None
    assert (
        '<input type="hidden" name="payment_method" value="cash">'
        in refused.content.decode()
    )


@pytest.mark.parametrize("method", ["cash", "card", "online", "gift_certificate"])
def test_the_visit_is_recorded_with_its_payment_method(
    front_desk_client, regular, location, service, method
):
    data = form_data(regular, location, [(service, 1)], payment_method=method)

    _quoted, committed = quote_and_commit(front_desk_client, data)

    assert committed.status_code == 302
    visit = Visit.objects.get(member=regular, paid_at=NOW)
    assert visit.payment_method == method
    done = front_desk_client.get(committed["Location"]).content.decode()
    assert visit.get_payment_method_display() in done


def test_a_checkout_without_a_method_is_paid_by_card(
    front_desk_client, regular, location, service
):
    """A page loaded before the method was asked."""
    _quoted, committed = quote_and_commit(
        front_desk_client, form_data(regular, location, [(service, 1)])
    )

    assert committed.status_code == 302
    assert Visit.objects.get(member=regular, paid_at=NOW).payment_method == "card"


@pytest.mark.parametrize("garbage", ["bitcoin", "CARD", "\x00", "x" * 500])
def test_an_unknown_payment_method_records_nothing(
    front_desk_client, regular, location, service, garbage
):
    for button in ("quote", "commit"):
        data = form_data(
            regular,
            location,
            [(service, 1)],
            quoted="2700.00",
            payment_method=garbage,
        )
        data[button] = "1"

        response = front_desk_client.post(URL, data)

        assert response.status_code == 200
        assert "payment_method" in response.context["form"].errors
        assert not Visit.objects.filter(member=regular, paid_at=NOW).exists()
