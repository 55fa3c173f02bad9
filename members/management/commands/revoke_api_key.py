"""``manage.py revoke_api_key rgk_AbC123`` — revoke the POS key with that prefix."""

from django.core.management.base import BaseCommand, CommandError

from members.access import api_key_revoke
from members.models import ApiKey


class Command(BaseCommand):
    help = "Revoke a POS API key, named by its prefix (shown by issue_api_key)."

    def add_arguments(self, parser):
        parser.add_argument("prefix", help="The key's prefix, e.g. rgk_AbC123.")

    def handle(self, *args, prefix, **options):
        keys = list(
            ApiKey.objects.select_related("location").filter(
                prefix=prefix.strip(), revoked_at__isnull=True
            )
        )
        if len(keys) != 1:
            raise CommandError(
                f"No live key with prefix {prefix!r}."
                if not keys
                else f"{len(keys)} live keys share prefix {prefix!r}: revoke them "
                "in the admin."
            )
        key = api_key_revoke(key=keys[0])
        self.stdout.write(f"Revoked {key.prefix}… of {key.location.name}.")
