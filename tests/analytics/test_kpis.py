"""Each KPI's reference computation on the constructed history
(``test_aggregates_dataset``), against answers worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings

from analytics import kpis
from analytics.tables import Filters
from tests.analytics import test_aggregates_dataset as dataset

history = dataset.history

MARCH = Filters(date(2026, 3, 1), date(2026, 3, 31))


def by_key(f: Filters) -> dict:
    return {k.key: k for k in kpis.kpis_direct(f)}


def test_repeat_purchase_rate(history):
    # March: m1 (03-01, 03-31) and m3 (03-10, 03-20) came twice, m2 once
    # (03-31); m4's only March visit was refunded in full.
    rpr = by_key(MARCH)["repeat_purchase_rate"]
    assert (rpr.numerator, rpr.denominator) == (2, 3)
    assert rpr.value == Decimal("0.6667")
    # At location B only m2 (once): 0 of 1.
    at_b = by_key(Filters(MARCH.date_from, MARCH.date_to, history["b"].pk))
    assert at_b["repeat_purchase_rate"].value == Decimal("0")


def test_new_member_retention_counts_exactly_30_days_and_not_a_second_more(history):
    # February–March: first visits of m2 (02-28 23:59:59, back one second
    # after 30 × 24 h: not retained), m1 (back exactly 30 × 24 h later:
    # retained) and m3 (cancelled 03-05, first paid 03-10, back 03-20).
    got = by_key(Filters(date(2026, 2, 1), date(2026, 3, 31)))
    retention = got["new_member_retention_30d"]
    assert (retention.numerator, retention.denominator) == (2, 3)
    # m2's first visit is on Feb 28 in Moscow (Feb 28 20:59:59 UTC).
    feb_28 = by_key(Filters(date(2026, 2, 28), date(2026, 2, 28)))
    assert feb_28["new_member_retention_30d"].denominator == 1
    assert feb_28["new_member_retention_30d"].value == Decimal("0")
    # A period without first visits has no rate.
    june = by_key(Filters(date(2026, 6, 1), date(2026, 6, 15)))
    assert june["new_member_retention_30d"].value is None


def test_average_check_of_members_is_net_of_refunds(history):
    # 3000 + 2800 (m1) + 2600 (m2) + 1200 + (3500 − 500 refunded) (m3)
    check = by_key(MARCH)["average_check_members"]
    assert (check.numerator, check.denominator) == (Decimal("12600.00"), 5)
    assert check.value == Decimal("2520.00")


@pytest.mark.skipif(not dataset.ANONYMOUS_OK, reason="visits cannot be anonymous yet")
def test_average_check_of_anonymous_visits_is_its_own_figure(history):
    check = by_key(MARCH)["average_check_anonymous"]
    assert (check.numerator, check.denominator) == (Decimal("1500.00"), 2)
    assert check.value == Decimal("750.00")


def test_active_and_lost_members_at_a_date(history):
    # At the end of June 15: a visit since March 18 00:00 (90 days) — m1
    # (04-20), m2 (03-31), m3 (03-20); nobody's last visit is before
    # 2025-12-18 (180 days).
    june_15 = by_key(Filters(date(2026, 6, 1), date(2026, 6, 15)))
    assert june_15["active_members"].value == 3
    assert june_15["lost_members"].value == 0
    # At the end of July 15: active since April 17 — m1 only; lost before
    # 2026-01-17 — m5 (12-21) and m4 (01-10; 03-15 was refunded).
    july_15 = by_key(Filters(date(2026, 7, 1), date(2026, 7, 15)))
    assert july_15["active_members"].value == 1
    assert july_15["lost_members"].value == 2


@override_settings(ANALYTICS_ACTIVE_DAYS=30, ANALYTICS_LOST_DAYS=60)
def test_active_and_lost_follow_the_settings(history):
    # At the end of April 30: since April 1 — m1; before March 1 — m5, m4.
    got = by_key(Filters(date(2026, 4, 1), date(2026, 4, 30)))
    assert got["active_members"].value == 1
    assert got["lost_members"].value == 2
    assert "30 days" in got["active_members"].definition


def test_breakage_rate_is_over_the_lots_issued_in_the_period(history):
    # March 1: m2's 200-point bonus (all expired on 03-12) and m1's 150.
    day = by_key(Filters(date(2026, 3, 1), date(2026, 3, 1)))["breakage_rate"]
    assert (day.numerator, day.denominator) == (200, 350)
    assert day.value == Decimal("0.5714")
    # The expiry on 03-12 issued nothing that day: no lots, no rate.
    expiry_day = by_key(Filters(date(2026, 3, 12), date(2026, 3, 12)))
    assert expiry_day["breakage_rate"].value is None


def test_every_kpi_has_a_translated_label_and_its_definition(history):
    got = kpis.kpis_direct(MARCH)
    assert [k.key for k in got] == [d.key for d in kpis.DEFINED]
    for k in got:
        assert k.label and k.definition
    assert "≥ 2 paid visits" in got[0].definition


def test_the_churn_rate(history):
    # July 1–31: lost during it — a last paid visit between 2026-01-02 and
    # 2026-02-01 (180 days before its start and end): m4. Not lost at
    # July 1 — a paid visit since 2026-01-02: m1, m2, m3, m4 (m5 was lost
    # in June).
    churned, base = kpis.churn_parts(Filters(date(2026, 7, 1), date(2026, 7, 31)))
    assert (churned, base) == (1, 4)


def test_the_docs_hold_every_definition_word_for_word(history):
    docs = (settings.BASE_DIR / "docs" / "analytics.md").read_text()
    for k in kpis.kpis_direct(MARCH):
        assert f"**{k.label}** (`{k.key}`): {k.definition}" in docs


def test_rpr_by_month_in_one_pass_equals_each_month_on_its_own(history):
    f = Filters(date(2026, 2, 15), date(2026, 4, 30), tier_id=None)
    got = kpis.rpr_by_month(f)
    # March 31 00:00 local is still March (UTC: March 30).
    assert got[date(2026, 3, 1)] == (2, 3)
    for month, last in [
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 31)),
        (date(2026, 4, 1), date(2026, 4, 30)),
    ]:
        part = Filters(max(month, f.date_from), last)
        assert got.get(month, (0, 0)) == kpis.rpr_parts(part)
