"""The admin index as the home: each role sees exactly its blocks, the alerts
count what needs attention and link to the filtered lists, and Django's app
list stays below.

Blocks: quick actions (checkout, find a member), alerts, today's figures,
this month's, the program's health and the dashboards.
"""

import itertools
import re
from datetime import date, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse

from analytics.home import home_for, url_or_none
from members import access
from members import services as member_services
from members.models import Message
from referrals import services as referral_services
from referrals.models import Referral
from rewards.models import JobRun
from tests.conftest import moscow
from tests.rewards.conftest import program_defaults

__all__ = ["program_defaults"]  # a fixture the tests use

pytestmark = pytest.mark.django_db

NOW = moscow(2026, 3, 15, 14, 0)
BLOCKS = [
    "home-actions",
    "home-alerts",
    "home-today",
    "home-month",
    "home-health",
    "home-dashboards",
]
MONEY_FIGURES = ["revenue", "new_members", "points_issued", "points_redeemed"]
_phones = itertools.count(1)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def blocks_of(html: str) -> list[str]:
    return [b for b in BLOCKS if f'id="{b}"' in html]


def alerts_of(html: str) -> dict[str, int]:
    found = re.findall(
        r'data-alert="([a-z_]+)">\s*<span class="home-alert-count">(\d+)</span>', html
    )
    return {key: int(count) for key, count in found}


def figures_of(html: str, block: str) -> list[str]:
    section = html.split(f'id="{block}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'data-figure="([a-z_]+)"', section)


def home(client) -> str:
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_manager_sees_every_block(manager_client, program_defaults):
    html = home(manager_client)

    assert blocks_of(html) == BLOCKS
    assert figures_of(html, "home-today") == ["visits", *MONEY_FIGURES]
    assert figures_of(html, "home-month") == ["visits", *MONEY_FIGURES]
    assert set(alerts_of(html)) == {
        "failed_messages",
        "held_referrals",
        "failed_jobs",
        "campaigns_without_data",
    }
    assert f'href="{reverse("admin:rewards_checkout")}"' in html
    # The find form goes to the checkout's own search.
    assert f'action="{reverse("admin:rewards_checkout")}"' in html
    assert 'name="find"' in html
    # No campaign has results yet.
    assert "not enough data yet" in html
    # Django's app list stays below, every table reachable.
    assert 'class="app-members module' in html
    assert reverse("admin:members_member_changelist") in html


def test_the_front_desk_sees_checkout_find_and_todays_visits(front_desk_client):
    html = home(front_desk_client)

    assert blocks_of(html) == ["home-actions", "home-alerts", "home-today"]
    assert figures_of(html, "home-today") == ["visits"]
    assert "Revenue" not in html
    assert "₽" not in html.split('id="home"', 1)[1].split("All admin tables")[0]
    assert f'href="{reverse("admin:rewards_checkout")}"' in html
    assert 'name="find"' in html
    # "Did my code arrive?": only the messages, the desk's own list.
    assert set(alerts_of(html)) == {"failed_messages"}
    assert "/admin/analytics/" not in html


def test_the_analyst_reads_everything_but_records_no_visit(analyst_client):
    html = home(analyst_client)

    assert blocks_of(html) == BLOCKS
    assert reverse("admin:rewards_checkout") not in html
    # Finding a member goes to the member list's search instead.
    assert f'action="{reverse("admin:members_member_changelist")}"' in html
    assert 'name="q"' in html
    assert set(alerts_of(html)) == {
        "failed_messages",
        "held_referrals",
        "failed_jobs",
        "campaigns_without_data",
    }


def test_a_superuser_sees_everything(client):
    user = get_user_model().objects.create_superuser("root", password="x")
    client.force_login(user)

    html = home(client)

    assert blocks_of(html) == BLOCKS
    assert len(alerts_of(html)) == 4


def test_staff_without_permissions_get_the_plain_index(client):
    user = get_user_model().objects.create_user("guest", password="x", is_staff=True)
    client.force_login(user)

    html = home(client)

    assert blocks_of(html) == []
    assert "All admin tables" in html


def test_the_dashboards_are_linked_when_their_pages_exist(manager_client):
    html = home(manager_client)

    dashboards = html.split('id="home-dashboards"', 1)[1].split("</section>")[0]
    members = url_or_none("analytics:dashboard", key="members")
    assert members is not None
    assert f'href="{members}"' in dashboards
    assert dashboards.count("<li>") == 8


def test_a_missing_page_is_no_link_and_no_error():
    assert url_or_none("analytics:no-such-page") is None
    assert url_or_none("admin:no_such_page", key="x") is None


# --- Alerts -------------------------------------------------------------------


def held_referral():
    """A friend signing up from the referrer's own device: held for review."""
    referrer = member_services.member_register(
        phone=f"+7903{next(_phones):07d}", first_name="Anna"
    )
    code = referral_services.referral_code_for(member=referrer).code
    access.token_issue(member=referrer, device_id="anna-phone", ip="10.1.1.1")
    friend = member_services.member_register(
        phone=f"+7903{next(_phones):07d}",
        first_name="Pavel",
        referral_code=code,
        channel="app",
        device_id="anna-phone",
        ip="10.1.1.1",
    )
    assert Referral.objects.get(referee=friend).status == Referral.Status.HELD


def failed_message(created_at, status=Message.Status.FAILED):
    return Message.objects.create(
        channel="sms",
        recipient="+79161234567",
        template_key="otp",
        language="en",
        status=status,
        created_at=created_at,
    )


def job_run(day: date, status=JobRun.Status.FAILED):
    return JobRun.objects.create(
        job="expire_lots", business_date=day, status=status, started_at=NOW
    )


def test_the_alerts_count_what_needs_attention(manager_client, program_defaults):
    failed_message(NOW - timedelta(hours=3))
    failed_message(NOW - timedelta(days=6))
    failed_message(NOW - timedelta(days=9))  # old news
    failed_message(NOW, status=Message.Status.SENT)
    held_referral()
    held_referral()
    job_run(date(2026, 3, 14))
    job_run(date(2026, 3, 13), status=JobRun.Status.DONE)
    job_run(date(2026, 1, 2))  # more than 30 days ago

    html = home(manager_client)

    assert alerts_of(html) == {
        "failed_messages": 2,
        "held_referrals": 2,
        "failed_jobs": 1,
        "campaigns_without_data": 0,
    }
    assert "Nothing needs your attention" not in html
    messages = reverse("admin:members_message_changelist")
    assert (
        f'href="{messages}?status__exact=failed&amp;created_at__gte=2026-03-08'
        "+00%3A00%3A00%2B03%3A00&amp;created_at__lt=2026-03-16+00%3A00%3A00%2B03%3A00"
        '"' in html
    )
    assert f'href="{reverse("admin:referrals_heldreferral_changelist")}"' in html
    jobs = reverse("admin:rewards_jobrun_changelist")
    assert f'href="{jobs}?status__exact=failed"' in html
    assert f'href="{reverse("admin:campaigns_campaign_program")}"' in html


def test_the_alert_links_open_the_filtered_lists(manager_client):
    failed_message(NOW - timedelta(hours=1))
    failed_message(NOW - timedelta(hours=2), status=Message.Status.SENT)
    job_run(date(2026, 3, 14))
    job_run(date(2026, 3, 13), status=JobRun.Status.DONE)
    user = manager_client.user

    links = {a.key: a.url for a in home_for(user).alerts}

    page = manager_client.get(links["failed_messages"])
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    page = manager_client.get(links["failed_jobs"])
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1


def test_quiet_days_say_so(manager_client):
    html = home(manager_client)

    assert set(alerts_of(html).values()) == {0}
    assert "Nothing needs your attention." in html


def test_the_find_form_finds_a_member_by_phone(front_desk_client, member):
    member.phone = "+79161234567"
    member.save()

    page = front_desk_client.get(
        reverse("admin:rewards_checkout"), {"find": "8 916 123-45-67"}
    )

    assert page.status_code == 200
    assert page.context["form"].initial["member"] == member.pk


def test_the_home_in_russian(manager_client):
    html = manager_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ru").content
    html = html.decode()

    assert 'lang="ru"' in html
    assert blocks_of(html) == BLOCKS
