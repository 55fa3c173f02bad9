"""What the apps above add to ``GET me``, so the app's home screen is one call.

Like ``members.visit_flow``: the members app answers the profile, the apps
listed in ``REGULARS_ME_SECTIONS`` add a key each (rewards: ``summary``, the
tier and points). Members never imports them: the list is read from settings
and imported once per process.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from rest_framework import serializers

from members.api.member_serializers import ProfileSerializer
from members.models import Member


class MeSection(Protocol):
    """One key of ``GET me``: ``data(member)`` answers, JSON-ready, what
    ``serializer_class`` describes (the OpenAPI schema shows the serializer)."""

    name: str
    serializer_class: type[serializers.BaseSerializer]

    def data(self, member: Member) -> dict[str, Any]: ...


def me_sections() -> tuple[MeSection, ...]:
    return _load(tuple(getattr(settings, "REGULARS_ME_SECTIONS", ())))


@cache
def _load(paths: tuple[str, ...]) -> tuple[MeSection, ...]:
    sections = tuple(import_string(path)() for path in paths)
    # A section's key must not replace a profile field or another section's.
    taken = set(ProfileSerializer.Meta.fields)
    for section in sections:
        if section.name in taken:
            raise ImproperlyConfigured(
                f"REGULARS_ME_SECTIONS: the key {section.name!r} of {section!r} "
                "is already in GET me."
            )
        taken.add(section.name)
    return sections


class MeSerializer(ProfileSerializer):
    """The profile plus one field per section of ``REGULARS_ME_SECTIONS``
    (rewards: ``summary``), each described by the section's own serializer.

    It describes ``GET me`` in the OpenAPI schema; the view fills the sections
    with their ``data(member)``. The fields come from the settings when the
    serializer is used, so the members app imports none of the apps above it.
    """

    def get_fields(self):
        fields = super().get_fields()
        for section in me_sections():
            fields[section.name] = section.serializer_class(read_only=True)
        return fields
