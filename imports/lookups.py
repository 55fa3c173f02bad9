"""Names in a file → rows in the database: locations, with a cache per import."""

from __future__ import annotations

from django.utils.translation import gettext as _

from imports.reading import RowError, header_key
from members.models import Location


class Locations:
    """A location by its code or its name (case and spaces aside)."""

    def __init__(self, default: Location | None = None):
        self.default = default
        self._by_key: dict[str, Location] = {}
        for location in Location.objects.all():
            self._by_key.setdefault(header_key(location.code), location)
            self._by_key.setdefault(header_key(location.name), location)

    def find(self, value: str) -> Location | None:
        if not value:
            return self.default
        location = self._by_key.get(header_key(value))
        if location is None:
            raise RowError(
                "location", _("Unknown location “%(code)s”.") % {"code": value}
            )
        return location
