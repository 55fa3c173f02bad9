"""Anonymous visits beside the nightly jobs over members' visits.

The tier review and the member scores aggregate paid visits per member, set
based: an anonymous visit (no member) must count for nobody — not a tier, not a
"member" of its own in the scores' quintiles and spend ranks.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from campaigns.models import MemberScore
from campaigns.scores import scores_refresh
from members import services
from members.models import Visit
from members.services import VisitLineInput
from rewards.models import Tier
from rewards.services import batch
from tests.conftest import moscow
from tests.factories import MemberFactory
from tests.rewards.conftest import program_set, wallet_of

pytestmark = pytest.mark.django_db

ON = date(2025, 6, 10)


def anonymous_sale(location, service, *, days_ago: int, amount="3000", n=1):
    day = ON - timedelta(days=days_ago)
    for k in range(n):
        services.visit_record(
            member=None,
            location=location,
            lines=[VisitLineInput(service=service)],
            amount_paid=amount,
            paid_at=moscow(day.year, day.month, day.day, 12, k),
            source=Visit.Source.POS,
            external_id=f"S-{days_ago}-{k}",
        )


def test_the_tier_review_counts_members_visits_only(
    program_defaults, member, record_visit, location, service
):
    # Given Silver at 2 visits in 30 days, a member with one, and many
    # anonymous visits at the same till
    with time_machine.travel(moscow(2025, 6, 1, 12, 0), tick=False):
        program_set(tier_window_days=30)
        Tier.objects.filter(code="silver").update(min_visits=2)
        record_visit(member)
        anonymous_sale(location, service, days_ago=9, n=5)

    # When the nightly review runs
    with time_machine.travel(moscow(2025, 6, 10, 0, 10), tick=False):
        result = batch.tiers_review(on=ON)

    # Then nobody moved: the anonymous visits are nobody's
    assert result["upgraded"] == 0
    assert wallet_of(member).tier.code == "base"
    assert Visit.objects.filter(member__isnull=True).count() == 5


def test_the_scores_rank_members_only(record_visit, location, service):
    # Given two members, and an anonymous visit bigger than either's spend
    a, b = MemberFactory.create_batch(2)
    with time_machine.travel(moscow(2025, 6, 9, 13, 0), tick=False):
        record_visit(a, amount_paid="500", paid_at=moscow(2025, 6, 8, 12, 0))
        record_visit(b, amount_paid="100", paid_at=moscow(2025, 6, 7, 12, 0))
        anonymous_sale(location, service, days_ago=1, amount="3000")

    # When the nightly scores are computed
    with time_machine.travel(moscow(2025, 6, 10, 1, 0), tick=False):
        result = scores_refresh(ON)

    # Then the two members are ranked between themselves (no third "member")
    assert result.scored == 2
    scores = {s.member_id: s for s in MemberScore.objects.all()}
    assert set(scores) == {a.pk, b.pk}
    assert scores[a.pk].spend_top_percent == Decimal("0")
    assert scores[b.pk].spend_top_percent == Decimal("50")
    assert (scores[a.pk].m_score, scores[b.pk].m_score) == (2, 1)
