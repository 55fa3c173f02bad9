"""The nightly jobs' writes: set-based SQL over all members, safe to run twice.

Each job takes a business date and returns a dict of what it did. They select
by state ("due and not done") and move everything in a few statements, so a
second run for the same date finds nothing left to do; ``rewards.jobs`` records
runs and runs them in order.

The points jobs work in member-id chunks of ``CHUNK_MEMBERS`` wallets, one
transaction each, so a live checkout waits at most for one chunk (on PostgreSQL
``REGULARS_JOB_WORKERS`` chunks run side by side). A chunk first copies the ids
of the members it will touch into a scratch table *and locks their wallet rows*
(in member-id order, the project's lock order), then every statement of the chunk
joins that table: a member's lots and wallet cannot move under the job, and the
job cannot touch a member whose wallet it does not hold. SQL below runs on
PostgreSQL and SQLite (``UPDATE … FROM``, ``ON CONFLICT DO NOTHING``); the few
differences go through ``_Db``.
"""

from rewards.services.batch.common import CHUNK_MEMBERS, day_end, due_at
from rewards.services.batch.points import (
    expiry_notices_queue,
    expiry_notices_send,
    lots_activate,
    lots_expire,
    vouchers_expire_due,
)
from rewards.services.batch.tiers import (
    tier_perks_issue,
    tiers_review,
    wallets_create_missing,
)

__all__ = [
    "CHUNK_MEMBERS",
    "day_end",
    "due_at",
    "expiry_notices_queue",
    "expiry_notices_send",
    "lots_activate",
    "lots_expire",
    "tier_perks_issue",
    "tiers_review",
    "vouchers_expire_due",
    "wallets_create_missing",
]
