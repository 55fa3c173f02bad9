"""The home (the admin index) in a real browser, for each role, in English and
Russian, at 1440 and 1024 px.

Two visits today (one of a new member), a bonus, a failed message and a
failed job: the manager sees the figures, the program's health, the
dashboards and the alerts; the front desk its checkout, the member search
and today's visits; the analyst everything but the checkout. The find form
takes the desk to the client's card at the checkout.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from members import roles
from members.models import Message
from rewards.models import JobRun
from tests.browser.conftest import expect, log_in, snapshot
from tests.factories import MemberFactory
from tests.rewards.conftest import give_points

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ALL_BLOCKS = [
    "#home-actions",
    "#home-alerts",
    "#home-today",
    "#home-month",
    "#home-health",
    "#home-dashboards",
]


@pytest.fixture
def today(program_defaults, record_visit):
    """Anna, a regular since last month, and Boris, new today, came in."""
    anna = MemberFactory(first_name="Anna", last_name="Smirnova", phone="+79161234567")
    record_visit(anna, paid_at=timezone.now() - timedelta(days=40))
    record_visit(anna)
    record_visit(MemberFactory(first_name="Boris"))
    give_points(anna, 300)
    Message.objects.create(
        channel="sms",
        recipient="+79161234567",
        template_key="otp",
        language="en",
        status=Message.Status.FAILED,
    )
    JobRun.objects.create(
        job="expire_lots",
        business_date=timezone.localdate(),
        status=JobRun.Status.FAILED,
    )
    return anna


@pytest.fixture
def analyst(page, staff_user):
    page.user = staff_user("ivan", roles.ANALYST)
    log_in(page, page.user)
    return page


def speak(page, language: str) -> None:
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": page.url}]
    )


def open_home(page, language: str, width: int):
    speak(page, language)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/admin/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    # Nothing runs off the side of the screen.
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth,"
        " document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1] + 1, widths
    # Django's app list stays below the home.
    expect(page.locator("#content-main .app-members")).to_be_visible()


def figure(page, block: str, key: str):
    return page.locator(f'{block} [data-figure="{key}"] .home-card-value')


def shown(page) -> list[str]:
    return [b for b in ALL_BLOCKS if page.locator(b).count()]


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("width", [1440, 1024])
def test_the_manager_s_home(manager, today, language, width):
    page = manager
    open_home(page, language, width)

    assert shown(page) == ALL_BLOCKS
    cards = page.locator("#home-today .home-card")
    expect(cards).to_have_count(5)
    expect(
        page.locator('#home-today [data-figure="visits"] .home-card-value')
    ).to_have_text("2")
    expect(figure(page, "#home-today", "new_members")).to_have_text("1")
    # 6,000 ₽ in English, 6 000 ₽ in Russian
    expect(figure(page, "#home-today", "revenue")).to_have_text(
        re.compile(r"^6[,\u00a0 ]000\u00a0₽$")
    )
    expect(
        page.locator('#home-alerts [data-alert="failed_messages"] .home-alert-count')
    ).to_have_text("1")
    expect(
        page.locator('#home-alerts [data-alert="failed_jobs"] .home-alert-count')
    ).to_have_text("1")
    expect(page.locator("#home-dashboards li")).to_have_count(8)
    # Each figure explains itself on hover.
    title = page.locator('#home-today [data-figure="revenue"]').get_attribute("title")
    assert title
    snapshot(page, f"home-manager-{language}-{width}")
    if (language, width) == ("en", 1440):  # the admin's dark theme follows
        page.emulate_media(color_scheme="dark")
        page.reload()
        expect(page.locator("#home-today .home-card")).to_have_count(5)
        snapshot(page, "home-manager-dark")
        page.emulate_media(color_scheme="light")

    # The alert leads to the failed messages.
    page.locator('#home-alerts [data-alert="failed_messages"] a').click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_front_desk_s_home(desk, today, language):
    page = desk
    open_home(page, language, 1024)

    assert shown(page) == ["#home-actions", "#home-alerts", "#home-today"]
    expect(page.locator("#home-today .home-card")).to_have_count(1)
    expect(
        page.locator('#home-today [data-figure="visits"] .home-card-value')
    ).to_have_text("2")
    expect(page.locator("#home")).not_to_contain_text("₽")
    snapshot(page, f"home-desk-{language}")

    # Finding Anna by her phone opens her card at the checkout.
    page.locator("#home-find-term").fill("8 916 123-45-67")
    page.locator("#home-find-term").press("Enter")
    expect(page.locator("#rw-member")).to_contain_text("Anna Smirnova")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_analyst_s_home(analyst, today, language):
    page = analyst
    open_home(page, language, 1440)

    assert shown(page) == ALL_BLOCKS
    expect(page.locator("#home-actions .home-checkout")).to_have_count(0)
    snapshot(page, f"home-analyst-{language}")

    # The search goes to the member list.
    page.locator("#home-find-term").fill("+7 916 123-45-67")
    page.locator("#home-find-term").press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
