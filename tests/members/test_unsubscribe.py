"""Unsubscribe links for marketing messages: one per channel, signed, honoured.

GET asks and changes nothing (mail scanners follow links); POST turns off that
channel's consent through ``member_update``; a bad token gets a 400 page.
"""

import importlib
from datetime import date

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils.translation import trans_real

from members import privacy, services
from members.messaging.services import message_send
from members.messaging.unsubscribe import (
    SALT,
    unsubscribe_token,
    unsubscribe_token_read,
    unsubscribe_url,
)
from members.models import Message
from tests.conftest import moscow
from tests.factories import MemberFactory

CHANNELS = ["sms", "email", "push"]
T0 = moscow(2025, 6, 1, 10)
T1 = moscow(2025, 6, 2, 12)

# The page's Russian, as the translators are to word it (makemessages is not run
# here): loaded into the catalog for these tests if the .mo lacks it.
RUSSIAN = {
    "Stop SMS messages from %(business)s?": "Больше не получать SMS от %(business)s?",
    "You are unsubscribed": "Вы отписались",
    "Unsubscribe": "Отписаться",
    "Messages about your account, such as sign-in codes, will still come.": (
        "Сообщения о вашем аккаунте, например коды для входа, будут приходить"
        " по-прежнему."
    ),
    "You will no longer get marketing SMS messages from %(business)s.": (
        "Вы больше не будете получать рекламные SMS от %(business)s."
    ),
}


@pytest.fixture
def russian():
    catalog = trans_real.translation("ru")._catalog._catalogs[0]
    added = [msgid for msgid in RUSSIAN if msgid not in catalog]
    for msgid in added:
        catalog[msgid] = RUSSIAN[msgid]
    yield
    for msgid in added:
        del catalog[msgid]


@pytest.fixture
def consenting(db):
    with time_machine.travel(T0, tick=False):
        return services.member_register(
            phone="+79161234567",
            first_name="Anna",
            email="anna@example.com",
            consents={"sms": True, "email": True, "push": True},
        )


def consents_of(member):
    member.refresh_from_db()
    return {
        channel: (
            getattr(member, f"consent_{channel}"),
            getattr(member, f"consent_{channel}_at"),
        )
        for channel in CHANNELS
    }


def page(member, channel):
    return reverse("unsubscribe", kwargs={"token": unsubscribe_token(member, channel)})


# --- The link -----------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_token_names_the_member_and_the_channel(consenting, channel):
    wanted = unsubscribe_token_read(unsubscribe_token(consenting, channel))

    assert (wanted.member_id, wanted.channel) == (consenting.pk, channel)


def test_the_url_is_absolute_with_a_request(consenting, rf):
    url = unsubscribe_url(consenting, "email", request=rf.get("/", secure=True))

    assert url.startswith("https://testserver/unsubscribe/")


def test_the_url_uses_the_public_base_url_when_set(consenting, settings):
    settings.REGULARS_PUBLIC_URL = "https://club.salon.example/"

    url = unsubscribe_url(consenting, "sms")

    assert url.startswith("https://club.salon.example/unsubscribe/")


def test_the_url_is_a_path_without_a_base_or_a_request(consenting):
    assert unsubscribe_url(consenting, "sms") == page(consenting, "sms")


def test_the_inbox_has_no_unsubscribe_link(consenting):
    with pytest.raises(ValueError):
        unsubscribe_token(consenting, "in_app")


def test_the_link_does_not_expire(consenting, client):
    with time_machine.travel(T0, tick=False):
        url = page(consenting, "sms")

    with time_machine.travel(moscow(2030, 1, 1, 12), tick=False):
        response = client.post(url)

    assert response.status_code == 200
    assert consents_of(consenting)["sms"][0] is False


# --- GET asks ------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_get_asks_and_changes_nothing(consenting, client, channel):
    before = consents_of(consenting)

    response = client.get(page(consenting, channel))

    assert response.status_code == 200
    assert consents_of(consenting) == before
    html = response.content.decode()
    assert 'method="post"' in html
    assert "Stop " in html and " from Regulars?" in html
    assert "sign-in codes, will still come" in html
    assert response["Cache-Control"].startswith("max-age=0")
    assert "noindex" in response["X-Robots-Tag"]


def test_get_names_the_channel_and_the_business(consenting, client, settings):
    settings.REGULARS_BUSINESS_NAME = "Salon Lotus"

    html = client.get(page(consenting, "email")).content.decode()

    assert "Stop email messages from Salon Lotus?" in html


# --- POST acts -----------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_post_turns_off_only_that_channel_and_stamps_it(consenting, client, channel):
    before = consents_of(consenting)

    with time_machine.travel(T1, tick=False):
        response = client.post(page(consenting, channel))

    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    after = consents_of(consenting)
    assert after[channel] == (False, T1)
    assert {c: v for c, v in after.items() if c != channel} == {
        c: v for c, v in before.items() if c != channel
    }


def test_post_goes_through_the_members_service(consenting, client, monkeypatch):
    calls = []
    original = services.member_update

    def spy(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(services, "member_update", spy)

    client.post(page(consenting, "email"))

    assert [(c["member"].pk, c["consents"]) for c in calls] == [
        (consenting.pk, {"email": False})
    ]


def test_post_again_is_the_same_page_and_records_nothing_new(consenting, client):
    url = page(consenting, "sms")
    with time_machine.travel(T1, tick=False):
        first = client.post(url)

    with time_machine.travel(moscow(2025, 6, 3, 12), tick=False):
        second = client.post(url)

    assert second.status_code == 200
    assert second.content == first.content
    assert consents_of(consenting)["sms"] == (False, T1)


def test_get_after_unsubscribing_says_it_is_done(consenting, client):
    url = page(consenting, "push")
    client.post(url)

    html = client.get(url).content.decode()

    assert "You are unsubscribed" in html
    assert 'method="post"' not in html


def test_the_form_works_with_csrf_checks(consenting):
    browser = Client(enforce_csrf_checks=True)
    url = page(consenting, "sms")

    refused = browser.post(url)
    browser.get(url)  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(url, {"csrfmiddlewaretoken": token})

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert consents_of(consenting)["sms"][0] is False


def test_a_marketing_message_after_unsubscribing_is_skipped(consenting, client):
    migration = importlib.import_module("members.migrations.0004_message_templates")
    migration.add_templates(django_apps, None)
    client.post(page(consenting, "sms"))
    consenting.refresh_from_db()

    with time_machine.travel(T1, tick=False):
        sms = message_send(
            channel="sms",
            template_key="points_expiring",
            context={"points": 300, "expires_on": date(2025, 7, 1)},
            member=consenting,
            kind=Message.Kind.MARKETING,
        )
        email = message_send(
            channel="email",
            template_key="points_expiring",
            context={"points": 300, "expires_on": date(2025, 7, 1)},
            member=consenting,
            kind=Message.Kind.MARKETING,
        )

    assert (sms.status, sms.skip_reason) == (Message.Status.SKIPPED, "no_consent")
    assert email.status == Message.Status.QUEUED


# --- Language --------------------------------------------------------------------


def test_the_page_speaks_the_members_language(db, client, russian):
    member = MemberFactory(language="ru", consent_sms=True)

    asked = client.get(page(member, "sms"))
    done = client.post(page(member, "sms"))

    assert asked["Content-Language"] == "ru"
    assert '<html lang="ru">' in asked.content.decode()
    assert "Больше не получать SMS от Regulars?" in asked.content.decode()
    assert "коды для входа" in asked.content.decode()
    html = done.content.decode()
    assert "Вы отписались" in html
    assert "Вы больше не будете получать рекламные SMS от Regulars." in html


def test_without_a_language_the_page_speaks_the_sites(db, client, settings):
    settings.LANGUAGE_CODE = "en"
    member = MemberFactory(language="", consent_sms=True)

    response = client.get(page(member, "sms"), HTTP_ACCEPT_LANGUAGE="ru")

    assert response["Content-Language"] == "en"
    assert '<html lang="en">' in response.content.decode()


# --- Bad links and erased members ----------------------------------------------


def tampered(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


@pytest.mark.parametrize(
    "token",
    [
        "tampered",
        "nonsense",
        "W251bGwsInNtcyJd:abc",
        "truncated",
        "other-salt",
        "in-app",
    ],
)
def test_a_bad_token_gets_a_400_page_and_changes_nothing(consenting, client, token):
    good = unsubscribe_token(consenting, "sms")
    token = {
        "tampered": tampered(good),
        "truncated": good[:-5],
        "other-salt": signing.Signer(salt="other").sign_object([consenting.pk, "sms"]),
        "in-app": signing.Signer(salt=SALT).sign_object([consenting.pk, "in_app"]),
    }.get(token, token)
    before = consents_of(consenting)
    url = reverse("unsubscribe", kwargs={"token": token})

    for response in (client.get(url), client.post(url)):
        assert response.status_code == 400
        assert "This unsubscribe link does not work" in response.content.decode()
    assert consents_of(consenting) == before


def test_another_members_id_cannot_be_swapped_in(consenting, client):
    other = MemberFactory(consent_sms=True)
    good = unsubscribe_token(consenting, "sms")
    forged = unsubscribe_token(other, "sms").split(":")[0] + ":" + good.split(":")[1]

    response = client.post(reverse("unsubscribe", kwargs={"token": forged}))

    assert response.status_code == 400
    other.refresh_from_db()
    assert other.consent_sms is True


def test_an_erased_member_gets_the_neutral_done_page(consenting, client):
    url = page(consenting, "sms")
    live = MemberFactory(consent_sms=True)
    live_done = client.post(page(live, "sms")).content.decode()
    privacy.member_erase(member=consenting)

    asked = client.get(url)
    done = client.post(url)

    for response in (asked, done):
        assert response.status_code == 200
        assert response.content.decode() == live_done
        assert "Anna" not in response.content.decode()


def test_a_deleted_member_gets_the_neutral_done_page(db, client):
    member = MemberFactory(consent_sms=True)
    url = page(member, "sms")
    member.delete()

    response = client.post(url)

    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
