"""Writes for members and visits. Admin, API, tasks and commands call these.

Every service that touches a member's visits runs in one transaction with the
member row locked (``select_for_update``), so a retried booking, a cancel racing
a refund or two front-desk clicks cannot double-count the cached stats.

Lock order, everywhere: the member row first, then the visit; the visit
reactions (``visit_flow``) lock the wallet after that.

- ``members`` — enrolment, profile changes, consents (``member_register``,
  ``member_update``, ``phone_normalize``);
- ``visits`` — record, cancel and refund a whole visit, price lines, repair
  the cached stats (``visit_record``, ``visit_cancel``, ``visit_refund``,
  ``price_lines``, ``member_stats_reconcile``);
- ``refunds`` — partial refunds (``visit_refund_partial``, and what one unit
  would return: ``refund_unit_amounts``).

Callers import from here (``from members import services``); the modules
import each other directly, never through this package.
"""

from members.services.members import (
    CONSENT_CHANNELS,
    member_register,
    member_signup_code_set,
    member_update,
    phone_history_add,
    phone_normalize,
)
from members.services.members import _consent_set as _consent_set
from members.services.members import _member_validate as _member_validate
from members.services.members import _phone_taken as _phone_taken
from members.services.refunds import (
    REFUND_KEY_MAX,
    refund_unit_amounts,
    visit_refund_partial,
)
from members.services.refunds import _refund_amount as _refund_amount
from members.services.refunds import _refund_lines_check as _refund_lines_check
from members.services.refunds import (
    _refund_same_or_conflict as _refund_same_or_conflict,
)
from members.services.visits import (
    MAX_LINE_QUANTITY,
    PAID_AT_CLOCK_SKEW,
    VisitLineInput,
    VisitRecordResult,
    booking_fingerprint,
    fingerprint_lines,
    member_active_check,
    member_lock,
    member_stats_reconcile,
    price_lines,
    services_by_id,
    specialists_check,
    visit_cancel,
    visit_checks,
    visit_insert,
    visit_record,
    visit_refund,
    visit_same_or_conflict,
)
from members.services.visits import _lines_price as _lines_price
from members.services.visits import _money_field as _money_field
from members.services.visits import _visit_reverse as _visit_reverse

__all__ = [
    "CONSENT_CHANNELS",
    "MAX_LINE_QUANTITY",
    "PAID_AT_CLOCK_SKEW",
    "REFUND_KEY_MAX",
    "VisitLineInput",
    "VisitRecordResult",
    "booking_fingerprint",
    "fingerprint_lines",
    "specialists_check",
    "member_active_check",
    "member_lock",
    "services_by_id",
    "visit_checks",
    "visit_insert",
    "visit_same_or_conflict",
    "member_register",
    "member_signup_code_set",
    "phone_history_add",
    "member_stats_reconcile",
    "member_update",
    "phone_normalize",
    "price_lines",
    "refund_unit_amounts",
    "visit_cancel",
    "visit_record",
    "visit_refund",
    "visit_refund_partial",
]
