"""Staff read words, not the code's names: jobs, message kinds, the review queue."""

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from members.messaging.types import message_type_label
from members.models import Message, MessageTemplate
from rewards.jobs import result_text
from rewards.models import JobRun

pytestmark = pytest.mark.django_db


def table_of(page: str) -> str:
    """The changelist's table (filters' links carry the keys in their URLs)."""
    return page.split('id="result_list"')[1].split("</table>")[0]


def test_job_runs_read_as_sentences(admin_client):
    JobRun.objects.create(
        job="review_tiers",
        business_date=date(2026, 12, 1),
        status=JobRun.Status.DONE,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        result={"upgraded": 1200, "downgraded": 3, "wallets_created": 0},
    )

    page = admin_client.get(reverse("admin:rewards_jobrun_changelist")).content.decode()

    assert "Review tiers" in page
    assert "upgraded: 1,200" in page and "wallets created: 0" in page
    assert "review_tiers" not in table_of(page)
    assert "wallets_created" not in page


def test_a_skip_reason_is_a_sentence_too():
    assert result_text({"skipped": "not the 1st of the month", "vouchers": 0}) == (
        "skipped: not the 1st of the month · vouchers: 0"
    )


def test_message_kinds_are_named_not_keyed(admin_client):
    page = admin_client.get(
        reverse("admin:members_messagetemplate_changelist")
    ).content.decode()
    assert "A friend joined" in page
    assert "referral_signed_up" not in table_of(page)

    template = MessageTemplate.objects.get(
        key="referral_signed_up", channel="sms", language="en"
    )
    detail = admin_client.get(
        reverse("admin:members_messagetemplate_change", args=[template.pk])
    ).content.decode()
    assert "A friend joined" in detail
    assert 'value="referral_signed_up"' not in detail


def test_the_outbox_names_each_message_by_its_kind(admin_client):
    Message.objects.create(
        channel="sms", recipient="+79161234567", template_key="voucher_issued", body="x"
    )
    page = admin_client.get(
        reverse("admin:members_message_changelist")
    ).content.decode()
    assert "Voucher issued" in page
    assert "voucher_issued" not in table_of(page)


def test_an_unknown_key_still_reads_as_words():
    assert message_type_label("birthday_greeting") == "Birthday greeting"


def test_the_review_queue_counts_referrals(admin_client):
    page = admin_client.get(
        reverse("admin:referrals_heldreferral_changelist")
    ).content.decode()
    assert "referrals to review" in page.lower()
    assert "review queue</" not in page.lower()


def test_the_settings_page_names_itself_once(admin_client):
    page = admin_client.get(
        reverse("admin:rewards_programsettings_change", args=[1])
    ).content.decode()
    crumbs = page.split('class="breadcrumbs"')[1].split("</div>")[0]
    assert crumbs.count("Program settings") == 1


def test_a_referrals_history_reads_as_words():
    from referrals.models import ReferralEvent

    event = ReferralEvent(
        from_status="held", to_status="held", reason="first_paid_visit"
    )
    text = str(event)
    assert "first_paid_visit" not in text and "held → held" not in text
    assert text.startswith(str(event.get_from_status_display()))
