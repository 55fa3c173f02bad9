"""Credentials for trying the APIs on the demo: a member to sign in as, a POS key.

Prints shell assignments for ``scripts/demo.sh``::

    DEMO_APP_PHONE=+79161234567
    DEMO_POS_KEY=rgk_…
    DEMO_POS_LOCATION=Patriarch Ponds

The member is the demo member with the most points (so the app shows a real
balance, history and vouchers); the script lets that phone sign in with a fixed
code through ``OTP_TEST_NUMBERS``. Each run revokes the previous demo key and
issues a new one, so keys never pile up.
"""

import shlex

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from members import access
from members.models import ApiKey, Location, Member

DEMO_KEY_NAME = "demo"


class Command(BaseCommand):
    help = "Print a demo member's phone and a fresh POS key (for scripts/demo.sh)."

    @transaction.atomic
    def handle(self, *args, **options):
        member = (
            Member.objects.filter(status=Member.Status.ACTIVE, wallet__isnull=False)
            .order_by("-wallet__available", "pk")
            .first()
        )
        location = Location.objects.filter(is_active=True).order_by("pk").first()
        if member is None or location is None:
            raise CommandError("No demo data: run seed_demo and points_backfill first.")
        for key in ApiKey.objects.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True):
            access.api_key_revoke(key=key)
        _key, raw = access.api_key_issue(location=location, name=DEMO_KEY_NAME)
        self.stdout.write(f"DEMO_APP_PHONE={member.phone.as_e164}")
        self.stdout.write(f"DEMO_POS_KEY={raw}")
        self.stdout.write(f"DEMO_POS_LOCATION={shlex.quote(location.name)}")
