"""``manage.py issue_api_key --location "Patriarch Ponds" [--name "Front desk till"]``.

Prints a new POS API key once: only its hash is stored, so it cannot be shown
again (issue another and revoke the lost one instead).
"""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from members.access import api_key_issue
from members.models import Location


def location_find(value: str) -> Location:
    """The location named or coded ``value`` (any case), or a CommandError."""
    value = value.strip()
    found = list(Location.objects.filter(Q(name__iexact=value) | Q(code__iexact=value)))
    if len(found) > 1:  # one's name is another's code: the code wins
        found = [loc for loc in found if loc.code.lower() == value.lower()]
    if len(found) != 1:
        known = ", ".join(
            f"{loc.name} ({loc.code})" for loc in Location.objects.order_by("name")
        )
        raise CommandError(f"No location {value!r}. Locations: {known or 'none yet'}.")
    return found[0]


class Command(BaseCommand):
    help = "Issue a POS API key for one location and print it (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--location", required=True, help="The location's name or code."
        )
        parser.add_argument(
            "--name", default="", help='What uses the key, e.g. "Front desk till".'
        )

    def handle(self, *args, location, name, **options):
        where = location_find(location)
        if not where.is_active:
            raise CommandError(
                f"{where.name} is closed: its keys would not work. Reopen it first."
            )
        key, raw = api_key_issue(location=where, name=name.strip())
        label = f" “{key.name}”" if key.name else ""
        self.stdout.write(f"New POS API key{label} for {where.name} ({where.code}):")
        self.stdout.write(raw)
        self.stdout.write(
            f"Prefix {key.prefix}. It is shown only now: store it in the POS "
            "system's settings (header X-Api-Key). Revoke it in the admin under "
            "POS API keys, or with manage.py revoke_api_key."
        )
