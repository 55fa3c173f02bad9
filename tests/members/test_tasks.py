"""Celery tasks of the members app, run in-process (no broker needed)."""

import logging
from decimal import Decimal

import pytest

from members.models import Member
from members.tasks import member_stats_reconcile_task
from tests.conftest import stats_of
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def drifted(record_visit):
    """Two members with one visit each; the first one's cache corrupted."""
    anna, boris = MemberFactory.create_batch(2)
    record_visit(anna)
    record_visit(boris)
    Member.objects.filter(pk=anna.pk).update(
        visits_count=3, total_spent=Decimal("10.00"), last_visit_at=None
    )
    return anna, boris


def test_reconcile_task_repairs_drift_and_says_so(drifted, caplog):
    anna, boris = drifted
    boris_before = stats_of(boris)

    with caplog.at_level(logging.WARNING, logger="members.tasks"):
        result = member_stats_reconcile_task.apply()

    assert result.successful()
    assert result.get() == 1
    assert stats_of(anna)[:2] == (1, Decimal("3000.00"))
    assert stats_of(anna)[3] is not None
    assert stats_of(boris) == boris_before
    assert "Repaired cached visit stats of 1 member(s)" in caplog.text


def test_reconcile_task_is_idempotent_and_quiet_when_nothing_drifted(drifted, caplog):
    assert member_stats_reconcile_task() == 1
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger="members.tasks"):
        assert member_stats_reconcile_task() == 0

    assert caplog.records == []
