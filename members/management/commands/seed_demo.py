"""Load the demo massage & spa chain: catalogue, staff logins, members, visits."""

import os
from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from members import demo
from members.platform_services import roles_sync
from members.roles import ANALYST, FRONT_DESK, MANAGER

DEMO_USERS = [
    # username, group, superuser
    ("admin", None, True),
    ("manager", MANAGER, False),
    ("frontdesk", FRONT_DESK, False),
    ("analyst", ANALYST, False),
]


class Command(BaseCommand):
    help = (
        "Create a realistic demo massage/spa chain: 3 locations, 25 services, "
        "members with 18 months of visits and staff logins. Deterministic for a "
        "given --seed and --today; a second run adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=2_000, help="default 2000")
        parser.add_argument("--seed", type=int, default=42, help="default 42")
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="the last day of history, YYYY-MM-DD, not after today "
            "(default: today; history then stops at the current minute)",
        )
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=None,
            help="language of names and the catalogue (default: LANGUAGE_CODE)",
        )
        parser.add_argument(
            "--password",
            default="regulars",
            help="password of the demo staff logins (default: regulars)",
        )
        parser.add_argument("--chunk-size", type=int, default=5_000)
        parser.add_argument(
            "--jobs",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="worker processes that generate and write chunks side by side; "
            "1 does everything in this process (default: the cores, at most 4)",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        if opts["members"] < 0:
            raise CommandError("--members must be 0 or more")
        if not 1 <= opts["jobs"] <= 16:
            raise CommandError("--jobs must be between 1 and 16")
        if not 100 <= opts["chunk_size"] <= 50_000:
            raise CommandError("--chunk-size must be between 100 and 50000")
        today = opts["today"] or timezone.localdate()
        if today > timezone.localdate():
            # A demo's visits have happened: none may be later than its loading.
            raise CommandError(
                f"--today {today} is in the future (today is "
                f"{timezone.localdate()}, business time)"
            )
        russian = (opts["language"] or settings.LANGUAGE_CODE).startswith("ru")

        roles_sync()
        with transaction.atomic():
            catalogue = demo.catalogue_ensure(russian=russian)
            self._users(opts["password"])

        with tqdm(
            total=opts["members"],
            unit="member",
            desc="Demo members",
            disable=opts["no_progress"],
            file=self.stderr._out,
            mininterval=0.5,
        ) as bar:
            stats = demo.members_generate(
                count=opts["members"],
                seed=opts["seed"],
                today=today,
                catalogue=catalogue,
                russian=russian,
                chunk_size=opts["chunk_size"],
                jobs=opts["jobs"],
                progress=bar.update,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo chain ready: {stats.members_created} member(s) and "
                f"{stats.visits_created} visit(s) created, "
                f"{stats.members_skipped} member(s) already there."
            )
        )
        self.stdout.write(
            "Staff logins (password for all: "
            f"{opts['password']}): "
            + ", ".join(f"{u} ({g or 'superuser'})" for u, g, _s in DEMO_USERS)
        )

    def _users(self, password: str) -> None:
        User = get_user_model()
        for username, group_name, superuser in DEMO_USERS:
            user, _created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@regulars.example"}
            )
            user.is_staff = True
            user.is_superuser = superuser
            # The demo prints its password, so it always sets it: the printed
            # login must work even after someone changed it.
            user.set_password(password)
            user.save()
            if group_name:
                user.groups.add(Group.objects.get(name=group_name))
