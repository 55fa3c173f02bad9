"""The outbox in the admin: templates (editable, previewed), messages
(read-only, filtered, searched) and the resend action, per staff role."""

import importlib
from datetime import date

import pytest
from django.apps import apps as django_apps
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from members.messaging.services import message_send
from members.messaging.tasks import message_deliver_task
from members.models import Message, MessageTemplate
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MESSAGES = reverse("admin:members_message_changelist")
TEMPLATES = reverse("admin:members_messagetemplate_changelist")


@pytest.fixture(autouse=True)
def templates(db):
    migration = importlib.import_module("members.migrations.0004_message_templates")
    migration.add_templates(django_apps, None)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(message_deliver_task, "apply_async", lambda *a, **kw: None)


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def voucher_message(member, channel="in_app"):
    return message_send(
        channel=channel,
        template_key="voucher_issued",
        member=member,
        context={"reward": "Tea", "code": "C0DE", "valid_until": None},
    )


def otp(member):
    return message_send(
        channel="sms",
        template_key="otp_code",
        member=member,
        context={"code": "482913", "minutes": 5},
    )


# --- Messages -----------------------------------------------------------------


def test_the_outbox_lists_messages_with_filters(admin_client, member):
    in_app = voucher_message(member)
    email = voucher_message(member, "email")
    Message.objects.filter(pk=email.pk).update(status=Message.Status.FAILED)

    assert listed(admin_client.get(MESSAGES)) == {in_app.pk, email.pk}
    assert listed(admin_client.get(MESSAGES, {"status": "failed"})) == {email.pk}
    assert listed(admin_client.get(MESSAGES, {"channel": "in_app"})) == {in_app.pk}
    assert listed(admin_client.get(MESSAGES, {"kind": "transactional"})) == {
        in_app.pk,
        email.pk,
    }
    assert listed(admin_client.get(MESSAGES, {"template_key": "otp_code"})) == set()


def test_the_outbox_is_searched_by_phone_in_any_format(admin_client):
    anna = MemberFactory(phone="+79161234567")
    boris = MemberFactory(phone="+79167654321")
    to_anna = otp(anna)
    in_app_of_anna = voucher_message(anna)  # no recipient: found by member phone
    otp(boris)

    found = listed(admin_client.get(MESSAGES, {"q": "8 916 123-45-67"}))

    assert found == {to_anna.pk, in_app_of_anna.pk}


def test_the_outbox_is_searched_by_email(admin_client, member):
    email = voucher_message(member, "email")
    voucher_message(member)

    assert listed(admin_client.get(MESSAGES, {"q": member.email})) == {email.pk}


def test_the_outbox_list_costs_a_fixed_number_of_queries(
    admin_client, django_assert_max_num_queries
):
    for _ in range(10):
        voucher_message(MemberFactory())
    admin_client.get(MESSAGES)

    with django_assert_max_num_queries(12):
        admin_client.get(MESSAGES)


def test_a_message_is_read_only(admin_client, member):
    message = voucher_message(member)
    url = reverse("admin:members_message_change", args=[message.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
    assert "Tea is yours" in response.content.decode()
    assert admin_client.post(url, {"body": "hacked"}).status_code == 403
    assert admin_client.get(reverse("admin:members_message_add")).status_code == 403
    message.refresh_from_db()
    assert message.body != "hacked"


def test_a_queued_sign_in_code_is_hidden(admin_client, member):
    message = otp(member)

    response = admin_client.get(
        reverse("admin:members_message_change", args=[message.pk])
    )

    content = response.content.decode()
    assert "482913" not in content
    assert "hidden until sent" in content


# --- Resend -------------------------------------------------------------------


def resend(client, *messages):
    return client.post(
        MESSAGES,
        {"action": "resend", ACTION_CHECKBOX_NAME: [m.pk for m in messages]},
        follow=True,
    )


def test_a_manager_resends_a_failed_message(manager_client, member):
    failed = voucher_message(member, "email")
    Message.objects.filter(pk=failed.pk).update(
        status=Message.Status.FAILED, last_error="HTTP 500"
    )

    response = resend(manager_client, failed)

    assert response.status_code == 200
    actions = response.context["action_form"].fields["action"].choices
    assert "resend" in dict(actions)
    assert "1 message queued again." in response.content.decode()
    copy = Message.objects.exclude(pk=failed.pk).get()
    assert (copy.status, copy.body) == (Message.Status.QUEUED, failed.body)
    failed.refresh_from_db()
    assert failed.status == Message.Status.FAILED


def test_a_sign_in_code_is_not_resent(manager_client, member):
    code = otp(member)

    response = resend(manager_client, code)

    assert "cannot be resent" in response.content.decode()
    assert Message.objects.count() == 1


def test_the_front_desk_sees_the_outbox_but_cannot_resend(front_desk_client, member):
    message = voucher_message(member)

    response = front_desk_client.get(MESSAGES)

    assert message.pk in listed(response)
    assert response.context["action_form"] is None  # no action offered
    resend(front_desk_client, message)
    assert Message.objects.count() == 1


def test_the_analyst_reads_and_cannot_resend(analyst_client, member):
    message = voucher_message(member)

    assert message.pk in listed(analyst_client.get(MESSAGES))
    resend(analyst_client, message)
    assert Message.objects.count() == 1


# --- Templates ----------------------------------------------------------------


def test_templates_are_listed_with_filters(admin_client):
    response = admin_client.get(TEMPLATES, {"channel": "sms", "language": "ru"})

    results = response.context["cl"].result_list
    assert {(t.channel, t.language) for t in results} == {("sms", "ru")}
    assert {"otp_code", "points_expiring"} <= {t.key for t in results}
    assert "voucher_issued" not in {t.key for t in results}  # no SMS template


def test_a_template_shows_a_rendered_preview(admin_client):
    template = MessageTemplate.objects.get(
        key="points_expiring", channel="email", language="ru"
    )

    response = admin_client.get(
        reverse("admin:members_messagetemplate_change", args=[template.pk])
    )

    content = response.content.decode()
    assert "Здравствуйте, Anna!" in content
    assert "сгорят ваши баллы: 350" in content


def template_form(template, **changes):
    data = {
        "key": template.key,
        "channel": template.channel,
        "language": template.language,
        "subject": template.subject,
        "body": template.body,
        "is_active": "on",
    }
    data.update(changes)
    return data


def test_a_manager_edits_a_template(manager_client):
    template = MessageTemplate.objects.get(key="otp_code", language="en")
    url = reverse("admin:members_messagetemplate_change", args=[template.pk])

    response = manager_client.post(
        url, template_form(template, body="Code: {{ code }}")
    )

    assert response.status_code == 302
    template.refresh_from_db()
    assert template.body == "Code: {{ code }}"


def test_a_template_with_a_syntax_error_is_refused(manager_client):
    template = MessageTemplate.objects.get(key="otp_code", language="en")
    url = reverse("admin:members_messagetemplate_change", args=[template.pk])

    response = manager_client.post(url, template_form(template, body="{% if %}"))

    assert response.status_code == 200
    assert "The template has an error" in response.content.decode()
    template.refresh_from_db()
    assert "{% if %}" not in template.body


def test_the_analyst_cannot_edit_templates(analyst_client):
    template = MessageTemplate.objects.get(key="otp_code", language="en")
    url = reverse("admin:members_messagetemplate_change", args=[template.pk])

    assert analyst_client.get(url).status_code == 200
    assert (
        analyst_client.post(url, template_form(template, body="x")).status_code == 403
    )


def test_a_message_of_the_expiry_job_shows_in_the_outbox(admin_client, member):
    message = message_send(
        channel="in_app",
        template_key="points_expiring",
        member=member,
        context={"points": 40, "expires_on": date(2025, 3, 1)},
    )

    assert message.pk in listed(admin_client.get(MESSAGES, {"q": f"{member.phone}"}))
