"""The operator's side of "bring a friend": the program's terms, every referral
with its history, the review queue of held referrals, a per-referrer summary,
members' codes, and the member and visit pages' panels.

Referrals are written only by ``referrals.services``: the lists and pages here
are read-only, and the review queue's "Approve" and "Reject" actions call
``referral_approve`` / ``referral_reject`` one referral at a time.
"""

from referrals.admin import (
    codes,
    members,
    program,
    records,
    review,
    summary,
    visits,
)

__all__ = ["codes", "members", "program", "records", "review", "summary", "visits"]
