"""Segments: saved rules over member data, evaluated set-based in SQL.

A segment's ``definition`` is a tree of groups and conditions::

    {"op": "or", "rules": [
        {"op": "and", "rules": [
            {"field": "last_visit_days", "cmp": "gte", "value": 90},
            {"field": "tier", "cmp": "in", "value": [2, 3]}]},
        {"field": "vip_top_percent", "cmp": "lte", "value": 10}]}

Each condition becomes a ``Q`` over ``Member`` (``CONDITIONS``): a column of the
member, of the wallet or of the nightly ``MemberScore``, or ``pk IN (…)`` over
an aggregate of visits, lines or points lots — never a query per member. The
whole segment is one ``SELECT`` (``segment_members``); counting 1M members is
one ``COUNT``. Only active members are ever in a segment. Days are counted in
the program's time zone: "last visit 90 days ago or more" holds from the 90th
local midnight after it.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Sum,
    When,
)
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from campaigns.categories import members_with_category
from campaigns.models import MemberCategory
from members.models import (
    Location,
    Member,
    ServiceCategory,
    Specialist,
    Visit,
    VisitLine,
)
from rewards.models import PointLot, Tier, Wallet
from rewards.selectors import day_start

WORK_MEM = "256MB"  # for the statements over all members (``big_sorts``)

CMP_LABELS = {
    "gte": _("at least"),
    "lte": _("at most"),
    "eq": _("exactly"),
    "in": _("is one of"),
    "not_in": _("is none of"),
}
OPS = ("and", "or")


class DefinitionError(ValueError):
    """A definition that cannot be evaluated; the message is for people."""


@dataclass(frozen=True)
class Condition:
    """One kind of rule. ``kind``: ``number`` (a count, days or money),
    ``window`` (``{"days": N, "amount": X}``: in the last N days), ``ids``
    (rows of ``model``), ``choice`` (values of ``choices``) or ``flag`` (no
    value)."""

    key: str
    label: Promise
    kind: str
    cmps: tuple[str, ...]
    build: Callable  # (cmp, value, Clock) -> Q
    model: type | None = None
    choices: tuple[tuple[str, Promise], ...] = ()
    hint: Promise | str = ""
    phrase: Promise | str = ""  # a window's label with its days: "… %(days)s days"


@dataclass(frozen=True)
class Clock:
    today: date
    # One member (a checkout's promotion): each subquery correlated to the
    # member (EXISTS, an index probe); else set-based (IN / NOT IN, hashed,
    # see ``big_sorts``).
    single: bool = False

    def since(self, days: int) -> datetime:
        """The start of the window "the last ``days`` days" (today included)."""
        return day_start(self.today - timedelta(days=max(days, 1) - 1))


# --- building blocks -------------------------------------------------------------


def _number(value) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise DefinitionError(
            _("“%(value)s” is not a number.") % {"value": value}
        ) from None
    if not number.is_finite() or number < 0:
        raise DefinitionError(_("“%(value)s” is not a number.") % {"value": value})
    return number


def _days(value) -> int:
    number = _number(value)
    if number != number.to_integral_value() or number > 36600:
        raise DefinitionError(
            _("“%(value)s” is not a number of days.") % {"value": value}
        )
    return int(number)


def _compare(column: str, cmp: str, value) -> Q:
    number = _number(value)
    return Q(**{f"{column}__{'exact' if cmp == 'eq' else cmp}": number})


def _ids(value) -> list[int]:
    if not isinstance(value, list | tuple) or not value:
        raise DefinitionError(_("Choose at least one."))
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        raise DefinitionError(_("Choose at least one.")) from None


def _window(value) -> tuple[int, Decimal]:
    if not isinstance(value, dict):
        raise DefinitionError(_("Give the number of days and the amount."))
    return _days(value.get("days")), _number(value.get("amount"))


def _member_in(rows, member: str, clock: Clock, cmp: str = "in") -> Q:
    """Members found in ``rows`` (a queryset with the member id in
    ``member``): ``IN (SELECT …)`` over all members, or ``EXISTS`` correlated
    to the one member; ``cmp="not_in"`` negates."""
    if clock.single:
        q = Q(Exists(rows.filter(**{member: OuterRef("pk")})))
    else:
        q = Q(pk__in=rows.values(member))
    return ~q if cmp == "not_in" else q


def _paid_visits():
    return Visit.objects.filter(status=Visit.Status.PAID, member__isnull=False)


def _days_ago(column: str):
    """``days since <column>`` compared with N, as a range of the column."""

    def build(cmp, value, clock: Clock) -> Q:
        n = _days(value)
        # days since = today − local date of the column; "≥ N" is "before the
        # start of the day N − 1 days ago".
        start_next = day_start(clock.today - timedelta(days=n - 1))
        start = day_start(clock.today - timedelta(days=n))
        if cmp == "gte":
            return Q(**{f"{column}__lt": start_next})
        if cmp == "lte":
            return Q(**{f"{column}__gte": start})
        return Q(**{f"{column}__gte": start, f"{column}__lt": start_next})

    return build


def _visits_window(measure: str):
    def build(cmp, value, clock: Clock) -> Q:
        days, amount = _window(value)
        visits = _paid_visits().filter(paid_at__gte=clock.since(days))
        if measure == "count":  # the member id: in the covering index
            total = Count("member_id")
        else:
            total = Sum(F("amount_paid") - F("amount_refunded"))
        rows = visits.values("member_id").annotate(total=total)
        if cmp == "gte":
            if amount <= 0:
                return Q()
            return _member_in(rows.filter(total__gte=amount), "member_id", clock)
        if cmp == "lte":  # none at all counts as 0
            return _member_in(
                rows.filter(total__gt=amount), "member_id", clock, "not_in"
            )
        if amount <= 0:
            return _member_in(rows.filter(total__gt=0), "member_id", clock, "not_in")
        return _member_in(rows.filter(total=amount), "member_id", clock)

    return build


def _visited_category(cmp, value, clock: Clock) -> Q:
    ids = _ids(value)
    if clock.single:  # one member, live: their own visit lines
        lines = VisitLine.objects.filter(
            visit__status=Visit.Status.PAID,
            visit__member__isnull=False,
            service__category_id__in=ids,
        )
        return _member_in(lines, "visit__member_id", clock, cmp)
    # All members: the nightly table of categories tried (``scores_refresh``),
    # a semi-join or an anti-join (NOT EXISTS) over a few million small rows
    # instead of the visit lines.
    tried = Q(pk__in=members_with_category(ids))
    if cmp == "not_in":
        return ~Q(
            Exists(
                MemberCategory.objects.filter(
                    member_id=OuterRef("pk"), category_id__in=ids
                )
            )
        )
    return tried


def _never_tried(cmp, value, clock: Clock) -> Q:
    return _visited_category("not_in", value, clock)


def _points_expiring(cmp, value, clock: Clock) -> Q:
    days, amount = _window(value)
    lots = (
        PointLot.objects.filter(
            remaining__gt=0,
            expires_on__gte=clock.today,
            expires_on__lt=clock.today + timedelta(days=days),
        )
        .values("member_id")
        .annotate(total=Sum("remaining"))
    )
    if cmp == "lte":
        return _member_in(lots.filter(total__gt=amount), "member_id", clock, "not_in")
    return _member_in(lots.filter(total__gte=max(amount, 1)), "member_id", clock)


def birthday_days_q(days: int, today: date) -> Q:
    """Members whose birthday falls within the next ``days`` days (today
    included; 29 February counts as the 28th in a common year)."""
    if days >= 366:
        return Q(birthday__isnull=False)
    spans: dict[int, list[int]] = {}
    for offset in range(days + 1):
        day = today + timedelta(days=offset)
        spans.setdefault(day.month, []).append(day.day)
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            spans[2].append(29)
    q = Q()
    for month, month_days in spans.items():
        q |= Q(birthday__month=month, birthday__day__gte=min(month_days),
               birthday__day__lte=max(month_days))  # fmt: skip
    return q


def _birthday_in(cmp, value, clock: Clock) -> Q:
    return birthday_days_q(_days(value), clock.today)


def _birthday_month(cmp, value, clock: Clock) -> Q:
    return Q(birthday__month=clock.today.month)


def _tier(cmp, value, clock: Clock) -> Q:
    return _member_in(
        Wallet.objects.filter(tier_id__in=_ids(value)), "member_id", clock, cmp
    )


def _column_in(column: str):
    def build(cmp, value, clock: Clock) -> Q:
        # Django negates a nullable column's IN with "OR column IS NULL".
        q = Q(**{f"{column}__in": _ids(value)})
        return ~q if cmp == "not_in" else q

    return build


def _values(value, allowed) -> list[str]:
    values = value if isinstance(value, list | tuple) else [value]
    values = [str(v) for v in values]
    if not values or not set(values) <= set(allowed):
        raise DefinitionError(_("Choose at least one."))
    return values


def _consent(cmp, value, clock: Clock) -> Q:
    q = Q()
    for channel in _values(value, dict(CHANNELS)):
        q |= Q(**{f"consent_{channel}": True})
    return ~q if cmp == "not_in" else q


def _joined_via(cmp, value, clock: Clock) -> Q:
    q = Q(joined_via__in=_values(value, dict(_joined_choices())))
    return ~q if cmp == "not_in" else q


def _plain(column: str):
    def build(cmp, value, clock: Clock) -> Q:
        return _compare(column, cmp, value)

    return build


def _vip(cmp, value, clock: Clock) -> Q:
    percent = _number(value)
    return Q(score__visits_12m__gt=0, score__spend_top_percent__lt=percent)


NUM = ("gte", "lte", "eq")
SET = ("in", "not_in")
CHANNELS = (("sms", _("SMS")), ("email", _("email")), ("push", _("push")))


def _joined_choices() -> tuple:
    joined = getattr(Member, "JoinedVia", None)
    return tuple(joined.choices) if joined is not None else ()


CONDITIONS: dict[str, Condition] = {
    c.key: c
    for c in (
        Condition("last_visit_days", _("days since the last visit"), "number", NUM,
                  _days_ago("last_visit_at"),
                  hint=_("Members without visits never match.")),
        Condition("first_visit_days", _("days since the first visit"), "number", NUM,
                  _days_ago("first_visit_at")),
        Condition("visits_count", _("visits in all"), "number", NUM,
                  _plain("visits_count")),
        Condition("total_spent", _("spent in all"), "number", NUM,
                  _plain("total_spent")),
        Condition("visits_12m", _("visits in the last 12 months"), "number", NUM,
                  _plain("score__visits_12m"),
                  hint=_("Recomputed nightly: quick on any number of members.")),
        Condition("spend_12m", _("spent in the last 12 months"), "number", NUM,
                  _plain("score__spend_12m"),
                  hint=_("Recomputed nightly: quick on any number of members.")),
        Condition("visits_in_days", _("visits in the last N days"), "window", NUM,
                  _visits_window("count"),
                  phrase=_("visits in the last %(days)s days")),
        Condition("spend_in_days", _("spent in the last N days"), "window", NUM,
                  _visits_window("money"),
                  phrase=_("spent in the last %(days)s days")),
        Condition("r_score", _("recency score (1–5)"), "number", NUM,
                  _plain("score__r_score"),
                  hint=_("Recomputed nightly; 5 = came most recently, 0 = no visit "
                         "in 12 months.")),
        Condition("f_score", _("frequency score (1–5)"), "number", NUM,
                  _plain("score__f_score")),
        Condition("m_score", _("money score (1–5)"), "number", NUM,
                  _plain("score__m_score")),
        Condition("vip_top_percent", _("in the top % by 12-month spend"), "number",
                  ("lte",), _vip),
        Condition("tier", _("tier"), "ids", SET, _tier, model=Tier),
        Condition("registration_location", _("registered at"), "ids", SET,
                  _column_in("registration_location_id"), model=Location),
        Condition("main_location", _("most visited location"), "ids", SET,
                  _column_in("score__main_location_id"), model=Location),
        Condition("visited_category", _("has visited the category"), "ids", ("in",),
                  _visited_category, model=ServiceCategory,
                  hint=_("As of the nightly refresh of the scores.")),
        Condition("never_tried_category", _("has never tried the category"), "ids",
                  ("in",), _never_tried, model=ServiceCategory,
                  hint=_("As of the nightly refresh of the scores.")),
        Condition("favourite_specialist", _("favourite specialist"), "ids", SET,
                  _column_in("score__favourite_specialist_id"), model=Specialist),
        Condition("birthday_in_days", _("birthday within the next N days"), "number",
                  ("lte",), _birthday_in),
        Condition("birthday_this_month", _("birthday this month"), "flag", ("eq",),
                  _birthday_month),
        Condition("points_balance", _("points balance"), "number", NUM,
                  _plain("wallet__available")),
        Condition("points_expiring", _("points expiring in the next N days"),
                  "window", ("gte", "lte"), _points_expiring,
                  phrase=_("points expiring in the next %(days)s days")),
        Condition("consent", _("consents to messages by"), "choice", SET,
                  _consent, choices=CHANNELS),
        Condition("joined_via", _("joined via"), "choice", SET,
                  _joined_via, choices=_joined_choices()),
    )
}  # fmt: skip


# --- the tree --------------------------------------------------------------------


def definition_q(
    definition: dict, today: date | None = None, *, single: bool = False
) -> Q:
    """The definition as one ``Q`` over active members (raises
    ``DefinitionError`` with a message for people); ``single`` for a
    queryset of one member (correlated subqueries)."""
    clock = Clock(today or timezone.localdate(), single)
    return _node_q(definition or {}, clock, depth=0)


def _node_q(node, clock: Clock, depth: int) -> Q:
    if not isinstance(node, dict) or depth > 4:
        raise DefinitionError(_("The rules are not in the expected form."))
    if "field" in node:
        condition = CONDITIONS.get(node.get("field"))
        if condition is None:
            raise DefinitionError(
                _("Unknown condition “%(field)s”.") % {"field": node.get("field")}
            )
        cmp = node.get("cmp") or condition.cmps[0]
        if cmp not in condition.cmps:
            raise DefinitionError(
                _("“%(cmp)s” does not apply to “%(label)s”.")
                % {"cmp": cmp, "label": condition.label}
            )
        return condition.build(cmp, node.get("value"), clock)
    op = node.get("op", "and")
    if op not in OPS:
        raise DefinitionError(_("The rules are not in the expected form."))
    rules = node.get("rules") or []
    if not isinstance(rules, list):
        raise DefinitionError(_("The rules are not in the expected form."))
    combined = Q()
    for child in rules:
        q = _node_q(child, clock, depth + 1)
        combined = (combined & q) if op == "and" else (combined | q)
    return combined


def definition_errors(definition) -> list[str]:
    try:
        definition_q(definition)
    except DefinitionError as exc:
        return [str(exc)]
    return []


def active_members():
    return Member.objects.filter(status=Member.Status.ACTIVE)


def segment_members(definition: dict, today: date | None = None):
    """The members of the segment, as a queryset (one SELECT)."""
    return active_members().filter(definition_q(definition, today))


@contextmanager
def big_sorts():
    """A transaction in which PostgreSQL may hash a subquery of a million
    member ids (``NOT IN`` stays one pass): ``work_mem`` raised for it only."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        yield


def segment_count(definition: dict, today: date | None = None) -> int:
    with big_sorts():
        return segment_members(definition, today).count()


def segment_sample(definition: dict, size: int = 20, today: date | None = None):
    with big_sorts():
        return list(
            segment_members(definition, today)
            .select_related("wallet__tier")
            .order_by(F("last_visit_at").desc(nulls_last=True), "pk")[:size]
        )


def member_segments(
    member_id: int, definitions: dict[int, dict], today: date | None = None
) -> frozenset[int]:
    """Which of the segments (id → definition) hold the member: one query
    for all of them."""
    if not definitions:
        return frozenset()
    flags = {
        f"s{sid}": Case(When(definition_q(d, today, single=True), then=1), default=0,
                        output_field=IntegerField())
        for sid, d in definitions.items()
    }  # fmt: skip
    row = active_members().filter(pk=member_id).annotate(**flags).values(*flags).first()
    if row is None:
        return frozenset()
    return frozenset(int(k[1:]) for k, v in row.items() if v)
