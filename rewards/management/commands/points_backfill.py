"""Give members who have visits but no wallet their points history, in bulk."""

import os
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from rewards import backfill


class Command(BaseCommand):
    help = (
        "Replay the paid visits of members without a wallet and write their "
        "points history in bulk: wallet and tier, one earn entry and lot per "
        "visit (and, for demo data, an occasional spend: --spend-every). "
        "Members with a wallet are skipped, so a "
        "second run adds nothing. Lots past their expiry stay open for the "
        "nightly expiry job."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--jobs",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="worker processes writing chunks side by side (PostgreSQL only; "
            "default: the cores, at most 4)",
        )
        parser.add_argument(
            "--chunk", type=int, default=2_000, help="members per transaction"
        )
        parser.add_argument(
            "--spend-every",
            type=int,
            default=0,
            help="demo data only: members whose id is a multiple of N spend half "
            "their points once at their last visit (default 0: nobody — an "
            "imported history's spends are not known, so none are invented)",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        if not 1 <= opts["jobs"] <= 16:
            raise CommandError("--jobs must be between 1 and 16")
        if opts["spend_every"] < 0:
            raise CommandError("--spend-every must be 0 or more")
        if not 1 <= opts["chunk"] <= 50_000:
            raise CommandError("--chunk must be between 1 and 50000")
        started = time.monotonic()
        ids = backfill.members_to_backfill()
        with tqdm(
            total=len(ids),
            unit="member",
            desc="Points history",
            disable=opts["no_progress"],
            file=self.stderr._out,
            mininterval=0.5,
        ) as bar:
            stats = backfill.points_backfill(
                member_ids=ids,
                chunk_size=opts["chunk"],
                jobs=opts["jobs"],
                spend_every=opts["spend_every"],
                progress=bar.update,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Points history written for {stats.members} member(s): "
                f"{stats.entries} ledger entries ({stats.spends} spends), "
                f"{stats.lots} lots, {stats.tier_changes} tier changes in "
                f"{time.monotonic() - started:.0f} s; {stats.skipped} member(s) "
                "skipped (already had a wallet or no paid visit)."
            )
        )
