"""The services and specialists a visits file names, found or created.

Found by code or by name (case and spaces aside), or through the mapping
file's ``{"services": {name in the file: code}, "specialists": {…}}``. A name
found nowhere is created inactive — a service at the first price the file
gives it, in the "Imported" category; a specialist at the locations the file
shows them at — so the history is kept and the till is not cluttered. Both
runs list what they created (the dry run's are rolled back).
"""

from __future__ import annotations

import hashlib
import threading

from django.db import transaction
from django.utils.translation import gettext as _

from imports.reading import ImportFileError, ImportSummary, header_key
from members.models import Service, ServiceCategory, Specialist

IMPORTED_CATEGORY = "imported"
IMPORTED_DURATION = 60


def _code(prefix: str, name: str) -> str:
    return f"{prefix}-{hashlib.sha1(name.encode()).hexdigest()[:12]}"  # noqa: S324


class Catalogue:
    def __init__(self, names: dict[str, dict[str, str]], summary: ImportSummary):
        self.summary = summary
        self.lock = threading.Lock()  # the writers share what is found
        self.services: dict[str, Service] = {}
        self.specialists: dict[str, Specialist] = {}
        self._new_services: list[str] = []
        self._new_specialists: list[str] = []
        for service in Service.objects.all():
            self.services.setdefault(header_key(service.code), service)
            self.services.setdefault(header_key(service.name), service)
        for specialist in Specialist.objects.prefetch_related("locations"):
            self.specialists.setdefault(header_key(specialist.code), specialist)
            self.specialists.setdefault(header_key(specialist.name), specialist)
        for section, known in (
            ("services", self.services),
            ("specialists", self.specialists),
        ):
            for name, code in names.get(section, {}).items():
                target = known.get(header_key(code))
                if target is None:
                    raise ImportFileError(
                        _("The mapping names “%(code)s” in %(section)s: no such code.")
                        % {"code": code, "section": section}
                    )
                known[header_key(name)] = target

    def resolve(self, visits) -> tuple[dict[str, Service], dict[str, Specialist]]:
        """Every service and specialist the ``visits`` name, by ``header_key``.
        One writer at a time: two chunks must not create one service twice."""
        with self.lock:
            return self._resolve(visits)

    def _resolve(self, visits):
        for visit in visits:
            for _line, service, specialist, amount, quantity, *keys in visit.lines:
                service_key, specialist_key = keys
                if service_key not in self.services:
                    self.services[service_key] = self._service_create(
                        service, amount / quantity
                    )
                if specialist:
                    if specialist_key not in self.specialists:
                        self.specialists[specialist_key] = self._specialist_create(
                            specialist
                        )
                    self._specialist_place(
                        self.specialists[specialist_key], visit.location.pk
                    )
        return self.services, self.specialists

    @transaction.atomic
    def _service_create(self, name: str, price) -> Service:
        category, _created = ServiceCategory.objects.get_or_create(
            code=IMPORTED_CATEGORY,
            defaults={"name": _("Imported"), "sort_order": 999},
        )
        service = Service.objects.create(
            category=category,
            name=name,
            code=_code("imp", name),
            base_price=price,
            duration_minutes=IMPORTED_DURATION,
            is_active=False,
        )
        self._new_services.append(name)
        self.summary.created["services"] += 1
        return service

    @transaction.atomic
    def _specialist_create(self, name: str) -> Specialist:
        specialist = Specialist.objects.create(
            name=name, code=_code("imp", name)[:40], is_active=False
        )
        specialist._placed = set()
        self._new_specialists.append(name)
        self.summary.created["specialists"] += 1
        return specialist

    def _specialist_place(self, specialist: Specialist, location_id: int) -> None:
        placed = getattr(specialist, "_placed", None)
        if placed is None or location_id in placed:
            return  # a specialist of the database: their locations are staff's
        specialist.locations.add(location_id)
        placed.add(location_id)

    def unknown(self) -> dict[str, list[str]]:
        return {"services": self._new_services, "specialists": self._new_specialists}
