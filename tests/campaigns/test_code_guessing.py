"""Promo codes cannot be guessed: after CAMPAIGNS_CODE_GUESSES wrong codes in
an hour a member's codes are refused, the right one too, until the hour is out."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from campaigns.models import PromoCode, Promotion, PromotionGroup
from members.services import VisitLineInput
from rewards.services import checkout_quote
from tests.conftest import error_codes, moscow

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)


def quote(member, location, service, code):
    return checkout_quote(
        member=member, location=location, lines=[VisitLineInput(service=service)],
        promo_codes=[code],
    )  # fmt: skip


def refused(member, location, service, code) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        quote(member, location, service, code)
    return error_codes(caught.value)


def test_wrong_codes_lock_the_member_out_for_the_hour(
    settings, member, location, service
):
    settings.CAMPAIGNS_CODE_GUESSES = 3
    group = PromotionGroup.objects.create(name="Main")
    promotion = Promotion.objects.create(
        name="Welcome", group=group, status="active", effect="percent_bill",
        percent=Decimal("10"), code_required=True,
    )  # fmt: skip
    PromoCode.objects.create(promotion=promotion, code="WELCOME")

    with time_machine.travel(NOW, tick=False):
        for guess in ("AAAA", "BBBB", "CCCC"):
            assert refused(member, location, service, guess) == {"promo_code_not_found"}
        # The right code too, now.
        assert refused(member, location, service, "WELCOME") == {"promo_code_locked"}

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        benefits = quote(member, location, service, "welcome").benefits
        assert [b.kind for b in benefits][-1] == "promotion"


def test_another_members_guesses_do_not_lock_this_one(
    settings, member, location, service
):
    settings.CAMPAIGNS_CODE_GUESSES = 1
    from tests.factories import MemberFactory

    other = MemberFactory()
    with time_machine.travel(NOW, tick=False):
        assert refused(other, location, service, "AAAA") == {"promo_code_not_found"}
        assert refused(other, location, service, "BBBB") == {"promo_code_locked"}
        assert refused(member, location, service, "BBBB") == {"promo_code_not_found"}


def test_a_till_guessing_across_members_locks_its_key(
    settings, pos_api, location, service
):
    """Through the POS API: wrong codes for different members lock the key;
    another till's key still asks."""
    from tests.factories import MemberFactory

    settings.CAMPAIGNS_CODE_GUESSES = 3
    members = [MemberFactory() for _ in range(4)]
    till, other_till = pos_api(location), pos_api(location)

    def quote(client, member, code):
        return client.post(
            "/api/v1/pos/quote",
            {"member_id": member.pk, "lines": [{"service": service.pk}],
             "promo_codes": [code]},
            format="json",
        )  # fmt: skip

    with time_machine.travel(NOW, tick=False):
        for member, guess in zip(members, ("AAAA", "BBBB", "CCCC"), strict=False):
            assert quote(till, member, guess).json()["code"] == "promo_code_not_found"
        locked = quote(till, members[3], "DDDD")
        fresh = quote(other_till, members[3], "DDDD")

    assert locked.status_code == 400
    assert locked.json()["code"] == "promo_code_locked"
    assert fresh.json()["code"] == "promo_code_not_found"
