"""Queueing messages in the outbox: rendering, language fallback, recipients,
consent, skipped statuses, quiet hours, deduplication and bulk queueing."""

import importlib
from datetime import date, datetime

import pytest
import time_machine
from django.apps import apps as django_apps

from members.messaging import rendering
from members.messaging.services import (
    OutgoingMessage,
    _recipient_of,
    member_channels,
    message_resend,
    message_send,
    messages_queue_bulk,
)
from members.messaging.tasks import message_deliver_task, messages_deliver_due_task
from members.models import Member, Message, MessageTemplate
from tests.conftest import moscow
from tests.factories import MemberFactory

Status = Message.Status
Kind = Message.Kind


def shipped_templates():
    """The default templates as migration 0004 writes them (also after a flush)."""
    migration = importlib.import_module("members.migrations.0004_message_templates")
    migration.add_templates(django_apps, None)


@pytest.fixture(autouse=True)
def templates(db):
    shipped_templates()


@pytest.fixture
def enqueued(monkeypatch):
    """Delivery tasks enqueued (``apply_async``/``delay``), recorded, not sent."""
    calls = []
    monkeypatch.setattr(
        message_deliver_task,
        "apply_async",
        lambda args=(), countdown=None, **kw: calls.append(("deliver", args[0])),
    )
    monkeypatch.setattr(
        messages_deliver_due_task, "delay", lambda *a, **kw: calls.append(("sweep",))
    )
    return calls


def otp(member=None, **kwargs):
    kwargs.setdefault("context", {"code": "482913", "minutes": 5})
    return message_send(channel="sms", template_key="otp_code", member=member, **kwargs)


def marketing(member, channel="sms", **kwargs):
    return message_send(
        channel=channel,
        template_key="points_expiring",
        context={"points": 300, "expires_on": date(2025, 7, 1)},
        member=member,
        kind=Kind.MARKETING,
        **kwargs,
    )


# --- Rendering and language -------------------------------------------------


def test_a_message_is_rendered_from_its_template_and_queued(
    member, django_capture_on_commit_callbacks, enqueued
):
    # Given a member with a phone
    # When an OTP is sent
    with django_capture_on_commit_callbacks(execute=True):
        message = otp(member)

    # Then one queued row with the rendered text, sent to their E.164 phone
    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.recipient == member.phone.as_e164
    assert message.body == "Your Regulars code: 482913. It expires in 5 min."
    assert (message.language, message.kind) == ("en", Kind.TRANSACTIONAL)
    # and its delivery is enqueued after commit
    assert enqueued == [("deliver", message.pk)]


@pytest.mark.parametrize(
    "typed", ["+79161234567", "8 (916) 123-45-67", "+7 916 123 45 67", "9161234567"]
)
def test_the_recipient_is_e164_however_the_phone_was_typed(typed):
    # The phone as read from the database (E.164, taken as it is) or as set in
    # memory in any format the region allows (formatted): the same recipient.
    member = MemberFactory(phone="+79161234567")
    member.phone = typed
    assert _recipient_of(member, "sms") == "+79161234567"
    fresh = Member.objects.get(pk=member.pk)
    assert _recipient_of(fresh, "push") == "+79161234567"
    member.phone = ""
    assert _recipient_of(member, "sms") == ""


def test_the_members_language_is_used(member):
    member.language = "ru"
    member.save()

    message = otp(member)

    assert message.body == "Ваш код Regulars: 482913. Действует 5 мин."
    assert message.language == "ru"


def test_an_explicit_language_wins_over_the_members(member):
    member.language = "ru"
    member.save()

    assert otp(member, language="en").language == "en"


def test_a_missing_translation_falls_back_to_the_site_language_then_english(
    member, settings
):
    # Given only an English template, a Russian member and a Russian site
    MessageTemplate.objects.filter(key="otp_code", language="ru").delete()
    member.language = "ru"
    member.save()
    settings.LANGUAGE_CODE = "ru"

    message = otp(member)

    # Then the English text goes out, and the row says so
    assert message.body.startswith("Your Regulars code")
    assert message.language == "en"
    assert rendering.languages_to_try("ru") == ["ru", "en"]


def test_an_inactive_template_is_not_used(member):
    MessageTemplate.objects.filter(key="otp_code", language="ru").update(
        is_active=False
    )

    assert otp(member, language="ru").language == "en"


def test_no_template_at_all_fails_the_message_without_raising(member):
    message = message_send(channel="sms", template_key="no_such_thing", member=member)

    assert message.status == Status.FAILED
    assert message.last_error.startswith("no template")


def test_a_broken_template_fails_the_message_without_raising(member):
    MessageTemplate.objects.create(
        key="broken", channel="sms", language="en", body="{% if %}"
    )

    message = message_send(channel="sms", template_key="broken", member=member)

    assert message.status == Status.FAILED
    assert message.last_error.startswith("template error")


def test_text_is_not_html_escaped(member):
    MessageTemplate.objects.create(
        key="hello", channel="sms", language="en", body="Hi {{ name }}"
    )

    message = message_send(
        channel="sms", template_key="hello", member=member, context={"name": "A & B"}
    )

    assert message.body == "Hi A & B"


def test_dates_render_in_the_messages_language(member):
    member.language = "ru"
    member.save()

    message = message_send(
        channel="in_app",
        template_key="points_expiring",
        member=member,
        context={"points": 120, "expires_on": date(2025, 3, 1)},
    )

    assert message.subject == "Баллы скоро сгорят"
    assert message.body == (
        "1 марта сгорят ваши баллы: 120. Потратьте их на следующем визите."
    )
    # The stored context is JSON: the date as ISO
    assert message.context == {"points": 120, "expires_on": "2025-03-01"}


def test_the_templates_see_the_member(member):
    message = message_send(
        channel="email",
        template_key="voucher_issued",
        member=member,
        context={
            "reward": "Aromatherapy",
            "code": "ABC234",
            "valid_until": moscow(2025, 7, 1, 12),
        },
    )

    assert message.subject == "Your reward is ready: Aromatherapy"
    assert message.body.startswith("Hello, Anna!")
    assert "Show the code ABC234 at the front desk by July 1, 2025." in message.body
    assert message.recipient == member.email


# --- Recipients and skipped messages ----------------------------------------


def test_to_overrides_the_recipient_and_needs_no_member():
    message = otp(to="+79990000042")

    assert (message.recipient, message.member, message.status) == (
        "+79990000042",
        None,
        Status.QUEUED,
    )


def test_no_recipient_is_skipped(member):
    member.email = ""
    member.save()

    message = message_send(
        channel="email",
        template_key="voucher_issued",
        member=member,
        context={"reward": "x", "code": "y", "valid_until": None},
    )

    assert (message.status, message.skip_reason) == (Status.SKIPPED, "no_recipient")


def test_an_in_app_message_needs_a_member():
    message = message_send(
        channel="in_app",
        template_key="points_expiring",
        context={"points": 1, "expires_on": date(2025, 1, 1)},
    )

    assert (message.status, message.skip_reason) == (Status.SKIPPED, "no_recipient")


@pytest.mark.parametrize("channel", ["sms", "email", "push"])
def test_marketing_without_consent_for_the_channel_is_skipped(member, channel):
    member.consent_sms = member.consent_email = member.consent_push = False
    member.save()

    with time_machine.travel(moscow(2025, 6, 2, 12), tick=False):
        message = marketing(member, channel)

    assert (message.status, message.skip_reason) == (Status.SKIPPED, "no_consent")
    assert message.body  # rendered all the same: the outbox shows what was held


@pytest.mark.parametrize("channel", ["sms", "email", "push"])
def test_marketing_with_consent_for_the_channel_is_queued(member, channel):
    setattr(member, f"consent_{channel}", True)
    member.save()

    with time_machine.travel(moscow(2025, 6, 2, 12), tick=False):
        message = marketing(member, channel)

    assert message.status == Status.QUEUED


def test_consent_for_one_channel_is_not_consent_for_another(member):
    member.consent_email = True
    member.consent_sms = False
    member.save()

    with time_machine.travel(moscow(2025, 6, 2, 12), tick=False):
        message = marketing(member, "sms")

    assert message.skip_reason == "no_consent"


def test_the_in_app_inbox_needs_no_consent(member):
    with time_machine.travel(moscow(2025, 6, 2, 12), tick=False):
        message = marketing(member, "in_app")

    assert message.status == Status.QUEUED


def test_transactional_messages_need_no_consent(member):
    member.consent_sms = False
    member.save()

    assert otp(member).status == Status.QUEUED


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Member.Status.BLOCKED, "member_blocked"),
        (Member.Status.ERASED, "member_erased"),
    ],
)
def test_blocked_and_erased_members_get_nothing(member, status, reason):
    member.status = status
    member.save()

    message = message_send(
        channel="in_app",
        template_key="voucher_issued",
        member=member,
        context={"reward": "x", "code": "y", "valid_until": None},
    )

    assert (message.status, message.skip_reason) == (Status.SKIPPED, reason)


def test_a_transactional_message_to_an_explicit_number_still_goes(member):
    member.status = Member.Status.BLOCKED
    member.save()

    assert otp(member, to=member.phone.as_e164).status == Status.QUEUED


def test_a_sign_in_code_is_masked_in_the_stored_context(member):
    message = otp(member)

    assert message.context == {"code": rendering.MASK, "minutes": 5}


def test_a_sign_in_code_is_masked_in_a_message_that_will_not_go(member):
    member.status = Member.Status.BLOCKED
    member.save()

    message = otp(member)

    assert message.status == Status.SKIPPED
    assert "482913" not in message.body
    assert rendering.MASK in message.body


# --- Quiet hours --------------------------------------------------------------


@pytest.fixture
def consenting(member):
    member.consent_sms = True
    member.save()
    return member


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (moscow(2025, 6, 2, 23, 30), moscow(2025, 6, 3, 9, 0)),  # before midnight
        (moscow(2025, 6, 3, 8, 59), moscow(2025, 6, 3, 9, 0)),  # after midnight
        (moscow(2025, 6, 2, 21, 0), moscow(2025, 6, 3, 9, 0)),  # the first minute
    ],
)
def test_marketing_in_quiet_hours_is_deferred_to_their_end(
    consenting, settings, now, until, django_capture_on_commit_callbacks, enqueued
):
    settings.MESSAGE_QUIET_HOURS = "21:00-09:00"

    with (
        time_machine.travel(now, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = marketing(consenting)

    assert message.status == Status.QUEUED
    assert message.not_before == until
    assert message.next_attempt_at == until
    # No task waits all night in the broker: the minute sweep sends it at 09:00
    assert enqueued == []


def test_marketing_outside_quiet_hours_goes_now(consenting, settings):
    settings.MESSAGE_QUIET_HOURS = "21:00-09:00"

    with time_machine.travel(moscow(2025, 6, 3, 9, 0), tick=False):
        message = marketing(consenting)

    assert (message.not_before, message.next_attempt_at) == (None, None)


def test_quiet_hours_that_do_not_wrap_midnight(consenting, settings):
    settings.MESSAGE_QUIET_HOURS = "13:00-15:00"

    with time_machine.travel(moscow(2025, 6, 3, 14, 0), tick=False):
        inside = marketing(consenting)
    with time_machine.travel(moscow(2025, 6, 3, 15, 0), tick=False):
        after = marketing(consenting)

    assert inside.not_before == moscow(2025, 6, 3, 15, 0)
    assert after.not_before is None


def test_empty_quiet_hours_mean_none(consenting, settings):
    settings.MESSAGE_QUIET_HOURS = ""

    with time_machine.travel(moscow(2025, 6, 3, 3, 0), tick=False):
        assert marketing(consenting).not_before is None


def test_the_skip_action_skips_marketing_in_quiet_hours(consenting, settings):
    settings.MESSAGE_QUIET_HOURS = "21:00-09:00"
    settings.MESSAGE_QUIET_HOURS_ACTION = "skip"

    with time_machine.travel(moscow(2025, 6, 3, 3, 0), tick=False):
        message = marketing(consenting)

    assert (message.status, message.skip_reason) == (Status.SKIPPED, "quiet_hours")


def test_transactional_messages_ignore_quiet_hours(member, settings):
    settings.MESSAGE_QUIET_HOURS = "21:00-09:00"

    with time_machine.travel(moscow(2025, 6, 3, 3, 0), tick=False):
        message = otp(member)

    assert (message.status, message.not_before) == (Status.QUEUED, None)


def test_quiet_hours_are_read_in_the_business_time_zone():
    # 19:30 UTC is 22:30 in Moscow: inside "21:00-09:00"
    end = rendering.quiet_hours_end(
        datetime.fromisoformat("2025-06-02T19:30:00+00:00"), "21:00-09:00"
    )

    assert end == moscow(2025, 6, 3, 9, 0)


def test_malformed_quiet_hours_are_reported_clearly():
    with pytest.raises(ValueError, match="MESSAGE_QUIET_HOURS"):
        rendering.quiet_hours_end(moscow(2025, 6, 3, 3, 0), "late evening")


# --- Deduplication ----------------------------------------------------------


def test_the_same_dedupe_key_returns_the_first_message(
    member, django_capture_on_commit_callbacks, enqueued
):
    with django_capture_on_commit_callbacks(execute=True):
        first = otp(member, dedupe_key="otp:1")
        second = otp(member, dedupe_key="otp:1", context={"code": "1", "minutes": 1})

    assert second.pk == first.pk
    assert Message.objects.count() == 1
    assert enqueued == [("deliver", first.pk)]


def test_a_dedupe_race_lost_at_insert_returns_the_winner(member, monkeypatch):
    # Given the winner inserted after our existence check (simulated by hiding it
    # from the first lookup only)
    winner = otp(member, dedupe_key="race:1")
    real_filter = Message.objects.filter
    hidden = {"done": False}

    def filter_once_empty(*args, **kwargs):
        if kwargs.get("dedupe_key") == "race:1" and not hidden["done"]:
            hidden["done"] = True
            return real_filter(pk=-1)
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Message.objects, "filter", filter_once_empty)

    # When we insert under the same key, inside the caller's transaction
    again = otp(member, dedupe_key="race:1")

    # Then the unique key refuses our row, the winner is returned and the
    # caller's transaction is still usable
    assert again.pk == winner.pk
    assert real_filter(dedupe_key="race:1").count() == 1
    assert Member.objects.filter(pk=member.pk).exists()


# --- Bulk queueing ----------------------------------------------------------


def test_bulk_queueing_renders_each_message_and_enqueues_one_sweep(
    django_capture_on_commit_callbacks, enqueued, django_assert_max_num_queries
):
    ru = MemberFactory(language="ru")
    en = MemberFactory(language="en")
    items = [
        OutgoingMessage(
            channel="in_app",
            template_key="points_expiring",
            context={"points": 10 * i, "expires_on": date(2025, 3, 1)},
            member=m,
            dedupe_key=f"bulk:{m.pk}",
        )
        for i, m in enumerate([ru, en], start=1)
    ]

    # Templates are looked up once per key/channel/language, not per message
    with (
        django_capture_on_commit_callbacks(execute=True),
        django_assert_max_num_queries(5),
    ):
        inserted = messages_queue_bulk(messages=items)

    assert inserted == 2
    bodies = dict(Message.objects.values_list("member_id", "body"))
    assert bodies[ru.pk].startswith("1 марта сгорят ваши баллы: 10.")
    assert bodies[en.pk].startswith("20 of your points expire on March 1.")
    assert enqueued == [("sweep",)]


def test_bulk_queueing_twice_inserts_nothing_twice(member):
    item = OutgoingMessage(
        channel="in_app",
        template_key="points_expiring",
        context={"points": 5, "expires_on": date(2025, 3, 1)},
        member=member,
        dedupe_key="bulk:once",
    )

    assert messages_queue_bulk(messages=[item]) == 1
    assert messages_queue_bulk(messages=[item]) == 0
    assert Message.objects.count() == 1


def test_member_channels_are_the_inbox_and_what_they_opted_into(member):
    member.consent_sms = True
    member.consent_push = False
    member.consent_email = True
    member.email = ""
    member.save()

    # Email consent without an address is no channel
    assert member_channels(member) == ["in_app", "sms"]


# --- Resend -------------------------------------------------------------------


def test_resend_queues_a_fresh_copy_and_keeps_the_original(
    member, django_capture_on_commit_callbacks, enqueued
):
    original = message_send(
        channel="in_app",
        template_key="voucher_issued",
        member=member,
        context={"reward": "Tea", "code": "C0DE", "valid_until": None},
    )
    Message.objects.filter(pk=original.pk).update(
        status=Status.FAILED, last_error="HTTP 500"
    )
    original.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        copy = message_resend(message=original, actor="manager")

    assert copy.pk != original.pk
    assert (copy.status, copy.body, copy.recipient) == (
        Status.QUEUED,
        original.body,
        original.recipient,
    )
    original.refresh_from_db()
    assert original.status == Status.FAILED
    assert enqueued == [("deliver", copy.pk)]


def test_resend_checks_consent_again(member):
    member.consent_sms = True
    member.save()
    with time_machine.travel(moscow(2025, 6, 2, 12), tick=False):
        original = marketing(member)
    member.consent_sms = False
    member.save()

    copy = message_resend(message=original)

    assert (copy.status, copy.skip_reason) == (Status.SKIPPED, "no_consent")


def test_a_sign_in_code_is_never_resent(member):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        message_resend(message=otp(member))

    assert caught.value.code == "message_not_resendable"


def test_the_default_templates_can_be_installed_again_without_overwriting_edits():
    MessageTemplate.objects.filter(key="otp_code", language="en").update(
        body="Edited {{ code }}"
    )
    count = MessageTemplate.objects.count()

    shipped_templates()

    assert MessageTemplate.objects.count() == count
    assert (
        MessageTemplate.objects.get(key="otp_code", language="en").body
        == "Edited {{ code }}"
    )


def test_every_default_template_renders_in_both_languages():
    samples = {
        "otp_code": {"code": "123456", "minutes": 5},
        "points_expiring": {"points": 42, "expires_on": date(2025, 3, 1)},
        "voucher_issued": {
            "reward": "Tea",
            "code": "C0DE",
            "valid_until": moscow(2025, 3, 1),
        },
        "referral_signed_up": {"friend": "Anna K."},
        "referral_rewarded": {"points": 500, "friend": "Anna K.", "days": 60},
        "referral_welcome": {"points": 500, "days": 60},
    }
    for template in MessageTemplate.objects.all():
        rendered = rendering.render(
            template, samples[template.key], language=template.language
        )
        assert rendered.body, template
        assert "{" not in rendered.body + rendered.subject, template
