"""A segment's rules for people and for other installations: ``describe``
puts them in words (the segment list, the offers), ``definition_refs`` swaps
the ids of the rows they name for codes and back (``program_export``)."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext

from campaigns.segments import CMP_LABELS, CONDITIONS


def definition_refs(definition, convert: Callable[[type, list], list]):
    """The definition with each ``ids`` condition's value passed through
    ``convert(model, values)`` (ids to codes for a program export, and back)."""
    if not isinstance(definition, dict):
        return definition
    if "field" in definition:
        condition = CONDITIONS.get(definition.get("field"))
        if condition is None or condition.kind != "ids":
            return dict(definition)
        return {**definition, "value": convert(condition.model, definition["value"])}
    if "rules" not in definition:
        return dict(definition)
    return {
        **definition,
        "rules": [definition_refs(r, convert) for r in definition.get("rules") or []],
    }


def describe(definition, names: Callable[[type, list], list[str]] | None = None) -> str:
    """The rules in words ("days since the last visit at least 90 and tier is
    one of Gold"), for the segment list and the offers."""
    names = names or _names

    def node(n, depth: int) -> str:
        if not isinstance(n, dict):
            return "?"
        if "field" in n:
            condition = CONDITIONS.get(n.get("field"))
            if condition is None:
                return "?"
            value = n.get("value")
            label = condition.label
            cmp = CMP_LABELS.get(n.get("cmp") or condition.cmps[0], "")
            if condition.kind == "flag":
                return str(label)
            if condition.kind in ("ids", "choice"):
                if condition.kind == "ids":
                    value = ", ".join(names(condition.model, value or []))
                else:
                    labels = dict(condition.choices)
                    value = ", ".join(str(labels.get(v, v)) for v in value or [])
                if condition.cmps == ("in",):
                    return f"{label}: {value}"
            elif condition.kind == "window" and isinstance(value, dict):
                label = condition.phrase % {"days": value.get("days")}
                value = value.get("amount")
            return f"{label} {cmp} {value}"
        joiner = f" {gettext('or') if n.get('op') == 'or' else gettext('and')} "
        parts = [node(r, depth + 1) for r in n.get("rules") or []]
        parts = [p for p in parts if p]
        if not parts:
            return ""
        text = joiner.join(parts)
        return f"({text})" if depth and len(parts) > 1 else text

    return node(definition, 0) or gettext("all active members")


def _names(model, ids: list) -> list[str]:
    found = {obj.pk: str(obj) for obj in model.objects.filter(pk__in=ids)}
    return [found.get(i, f"#{i}") for i in ids]
