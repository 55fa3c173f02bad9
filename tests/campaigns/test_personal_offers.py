"""A campaign's personal codes: shown to their member in me/offers, usable by
that member only; run_campaigns by hand; two runs at once send once."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from campaigns.codes import codes_personal, codes_read
from campaigns.journeys import campaigns_run
from campaigns.models import Campaign, CampaignStep, Enrollment
from campaigns.segments import segment_members
from members.models import Member, Message, MessageTemplate
from tests.campaigns.conftest import NOW
from tests.conftest import error_codes
from tests.factories import MemberFactory
from tests.factories.campaigns import PromotionFactory
from tests.members.test_concurrency import race

pytestmark = pytest.mark.django_db


@pytest.fixture
def personal(db):
    return PromotionFactory(
        name="Come back: 15%", code_required=True, effect="percent_bill",
        percent=Decimal("15"),
    )  # fmt: skip


def test_me_offers_shows_the_members_own_code(personal, member_api):
    mine, other = MemberFactory(), MemberFactory()
    codes = codes_personal(promotion=personal, member_ids=[mine.pk, other.pk],
                           batch="c-1", valid_until=NOW + timedelta(days=14))  # fmt: skip

    body = member_api(mine).get(reverse("api-me-offers")).json()["offers"]
    (offer,) = [o for o in body if o["name"] == "Come back: 15%"]
    assert offer["code"] == codes[mine.pk].code
    assert offer["personal"] is True
    assert offer["code_valid_until"].startswith("2025-06-24")
    assert codes[other.pk].code not in str(body)


def test_another_members_personal_code_is_unknown(personal):
    mine, other = MemberFactory(), MemberFactory()
    code = codes_personal(promotion=personal, member_ids=[mine.pk], batch="c-1",
                          valid_until=None)[mine.pk]  # fmt: skip
    (read,) = codes_read([code.code], at=NOW, member_id=mine.pk)
    assert read.pk == code.pk
    with pytest.raises(ValidationError) as refused:
        codes_read([code.code], at=NOW, member_id=other.pk)
    assert error_codes(refused.value) == {"promo_code_not_found"}


def test_the_personal_code_prices_at_the_checkout(personal, quote, regular):
    member = regular
    code = codes_personal(promotion=personal, member_ids=[member.pk], batch="c",
                          valid_until=None)[member.pk]  # fmt: skip
    priced = quote(member, promo_codes=[code.code.lower()])
    assert [b.amount for b in priced.benefits if b.kind == "promotion"] == [
        Decimal("450.00")
    ]


def test_the_joined_via_condition():
    app = MemberFactory(joined_via=Member.JoinedVia.APP)
    MemberFactory(joined_via=Member.JoinedVia.TILL)
    definition = {"field": "joined_via", "cmp": "in", "value": ["app"]}
    assert list(segment_members(definition).values_list("pk", flat=True)) == [app.pk]


def one_off(name="News"):
    for channel in ("sms", "push"):
        MessageTemplate.objects.get_or_create(
            key="news", channel=channel, language="en", defaults={"body": "Hi"}
        )
    campaign = Campaign.objects.create(
        name=name, kind=Campaign.Kind.ONE_OFF, status=Campaign.Status.ACTIVE,
        control_percent=Decimal("0"),
    )  # fmt: skip
    CampaignStep.objects.create(campaign=campaign, template_key="news", channels="sms")
    return campaign


def test_run_campaigns_by_hand():
    one_off()
    MemberFactory(consent_sms=True)
    out = io.StringIO()
    call_command("run_campaigns", stdout=out)
    assert "News: exited 0, enrolled 1, sent 1" in out.getvalue()
    call_command("run_campaigns", "--date", "2025-06-01", stdout=io.StringIO())
    assert Message.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_once(program_defaults):
    one_off()
    for _ in range(30):
        MemberFactory(consent_sms=True)
    outcomes = race(4, lambda i: campaigns_run())
    assert all(kind == "ok" for kind, _value in outcomes), outcomes
    assert Enrollment.objects.count() == 30
    assert Message.objects.filter(template_key="news").count() == 30
