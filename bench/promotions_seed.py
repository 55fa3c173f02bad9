"""Add (or remove) the 50 active bench promotions of ``bench/promotions.py`` on
an existing benchmark database, e.g. the 1M-member one, for ``api_load.py``.

    DATABASE_URL=postgres://…/regulars_bench .venv/bin/python \\
        bench/promotions_seed.py [--promotions 50]      # add them (idempotent)
    DATABASE_URL=… .venv/bin/python bench/promotions_seed.py --remove

The promotions are ``promotions.promotions_make``'s (every effect and most
conditions, in three groups "Bench best/stack/first", named "Bench promotion
N"), so the HTTP figures and the in-process ones of ``bench/promotions.py``
measure the same set. Adding first removes any earlier bench set, so running it
twice leaves exactly ``--promotions`` of them. Nothing else is touched: the
database is not migrated, no member or catalogue row is written.

``--remove`` deletes the bench promotions and their groups. Visits recorded
while they were active (``api_load.py``'s ``visits`` scenario) hold
``Redemption`` rows that protect their promotion; those rows were made by the
bench's own traffic and are deleted with them (the visits, their benefits and
ledger entries stay, as after any other bench run). Promotions not made by
this script are never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
os.environ.setdefault("DEBUG", "false")

from django.db import connection, transaction  # noqa: E402
from promotions import promotions_make  # noqa: E402  (sets Django up)

from campaigns.models import Promotion, PromotionGroup, Redemption  # noqa: E402

GROUPS = [f"Bench {mode}" for mode in ("best", "stack", "first")]


def bench_promotions():
    return Promotion.objects.filter(
        name__startswith="Bench promotion ", group__name__in=GROUPS
    )


def remove() -> tuple[int, int]:
    with transaction.atomic():
        ids = list(bench_promotions().values_list("pk", flat=True))
        redemptions, _ = Redemption.objects.filter(promotion_id__in=ids).delete()
        Promotion.objects.filter(pk__in=ids).delete()
        groups = PromotionGroup.objects.filter(name__in=GROUPS)
        if not groups.filter(promotions__isnull=False).exists():
            groups.delete()
    return len(ids), redemptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--promotions", type=int, default=50)
    parser.add_argument("--remove", action="store_true")
    args = parser.parse_args()
    db = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql" and not str(db).startswith("regulars_bench"):
        sys.exit(f"refusing to use {db}: the name must start with regulars_bench")
    removed, redemptions = remove()
    print(f"removed {removed} bench promotions ({redemptions} redemptions of them)")
    if not args.remove:
        with transaction.atomic():
            promotions_make(args.promotions)
        print(f"added {bench_promotions().count()} active bench promotions")
    others = Promotion.objects.exclude(pk__in=bench_promotions())
    print(
        f"promotions in {db} now: {Promotion.objects.count()} "
        f"({others.filter(status='active').count()} active ones not the bench's)"
    )


if __name__ == "__main__":
    main()
