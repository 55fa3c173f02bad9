"""The program's configuration as one JSON document, between installations.

``manage.py program_export`` writes it; ``program_import FILE [--dry-run]``
validates all of it, lists what would change, and applies it in one
transaction (a second import of the same document changes nothing). The
document has a section per kind of configuration, each contributed by its
app through ``REGULARS_PROGRAM_SECTIONS`` (rewards: the settings, tiers, earn
rates, rewards; campaigns: promotion groups, promotions, public codes, code
batches), so rewards never imports an app above it.

Rows are matched by a natural key (a code, or a name where there is no code),
and foreign keys and lists of related rows are written as those keys, never as
database ids: an export of one installation imports into another.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

FORMAT = 1


@dataclass
class Change:
    section: str
    text: str  # "create tier gold", "update settings: earn_rate 5 → 6"
    apply: Callable[[], None]


def _json_value(value) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


@dataclass
class ModelSection:
    """Rows of ``model`` keyed by ``key``; ``refs`` map foreign keys and
    ``many`` many-to-many fields to the related rows' natural keys."""

    name: str
    model: type[models.Model]
    key: str
    refs: dict[str, str] = field(default_factory=dict)  # fk field → related key
    many: dict[str, str] = field(default_factory=dict)  # m2m field → related key
    exclude: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    where: dict = field(default_factory=dict)  # which rows: a filter
    singleton: bool = False

    def _rows(self):
        return self.model.objects.filter(**self.where)

    def _key_of(self, obj):
        value = getattr(obj, self.key)
        if self.key in self.refs:
            return getattr(value, self.refs[self.key])
        return value

    def _fields(self) -> list[models.Field]:
        out = []
        for f in self.model._meta.concrete_fields:
            if f.primary_key or not f.editable or f.name in self.exclude:
                continue
            if self.only and f.name not in self.only:
                continue
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                continue
            if f.is_relation and f.name not in self.refs:
                continue
            out.append(f)
        return out

    def _row(self, obj) -> dict:
        row = {}
        for f in self._fields():
            if f.is_relation:
                related = getattr(obj, f.name)
                row[f.name] = getattr(related, self.refs[f.name]) if related else None
            else:
                row[f.name] = _json_value(getattr(obj, f.attname))
        for name, key in self.many.items():
            if not self.only or name in self.only:
                row[name] = sorted(getattr(r, key) for r in getattr(obj, name).all())
        return row

    def export(self) -> Any:
        if self.singleton:
            obj = self.model.objects.order_by("pk").first()
            return self._row(obj) if obj else {}
        rows = self._rows()
        if self.many:
            rows = rows.prefetch_related(*self.many)
        return sorted((self._row(obj) for obj in rows), key=lambda r: str(r[self.key]))

    def changes(self, data: Any) -> list[Change]:
        if self.singleton:
            if not isinstance(data, dict):
                raise ValidationError(
                    _("“%(s)s” must be an object.") % {"s": self.name}
                )
            obj = self.model.objects.order_by("pk").first() or self.model()
            return self._change(obj, data, str(self.model._meta.verbose_name))
        if not isinstance(data, list):
            raise ValidationError(_("“%(s)s” must be a list.") % {"s": self.name})
        existing = {}
        for obj in self._rows():
            k = self._key_of(obj)
            if k in existing:
                raise ValidationError(
                    _("Two %(what)s share “%(key)s” here: rename one first.")
                    % {"what": self.model._meta.verbose_name_plural, "key": k}
                )
            existing[k] = obj
        out, seen = [], set()
        for row in data:
            if not isinstance(row, dict) or self.key not in row:
                raise ValidationError(
                    _("Every row of “%(s)s” needs “%(key)s”.")
                    % {"s": self.name, "key": self.key}
                )
            k = row[self.key]
            if k in seen:
                raise ValidationError(
                    _("“%(key)s” twice in “%(s)s”.") % {"key": k, "s": self.name}
                )
            seen.add(k)
            obj = existing.get(k) or self.model()
            label = f"{self.model._meta.verbose_name} {k}"
            out.extend(self._change(obj, row, label))
        return out

    def _change(self, obj, row: dict, label: str) -> list[Change]:
        new = obj.pk is None
        diffs, values, many = [], {}, {}
        for f in self._fields():
            if f.name not in row:
                continue
            raw = row[f.name]
            if f.is_relation:
                target = f.related_model
                value = None
                if raw not in (None, ""):
                    value = target.objects.filter(**{self.refs[f.name]: raw}).first()
                    if value is None:
                        raise ValidationError(
                            _("%(label)s: no %(what)s “%(key)s”.")
                            % {"label": label, "what": target._meta.verbose_name,
                               "key": raw}
                        )  # fmt: skip
                current = getattr(obj, f.name, None) if not new else None
                if new or current != value:
                    diffs.append(f.name)
                values[f.name] = value
                continue
            try:
                value = f.to_python(raw)
            except ValidationError as exc:
                raise ValidationError(
                    f"{label}: {f.name}: {'; '.join(exc.messages)}"
                ) from None
            if new or getattr(obj, f.attname) != value:
                diffs.append(f.name)
            values[f.attname] = value
        for name, key in self.many.items():
            if name not in row or (self.only and name not in self.only):
                continue
            target = self.model._meta.get_field(name).related_model
            wanted = set(row[name] or [])
            found = list(target.objects.filter(**{f"{key}__in": wanted}))
            missing = wanted - {getattr(r, key) for r in found}
            if missing:
                raise ValidationError(
                    _("%(label)s: no %(what)s %(keys)s.")
                    % {"label": label, "what": target._meta.verbose_name_plural,
                       "keys": ", ".join(sorted(map(str, missing)))}
                )  # fmt: skip
            current = (
                set() if new else {getattr(r, key) for r in getattr(obj, name).all()}
            )
            if current != wanted:
                diffs.append(name)
            many[name] = found
        for attr, value in {**self.where, **values}.items():
            setattr(obj, attr, value)
        try:
            obj.full_clean(validate_unique=False)
        except ValidationError as exc:
            raise ValidationError(f"{label}: {'; '.join(exc.messages)}") from None
        if not diffs:
            return []

        def apply():
            obj.save()
            for name, rows in many.items():
                getattr(obj, name).set(rows)

        verb = _("create") if new else _("update")
        text = f"{verb} {label}" + ("" if new else f": {', '.join(diffs)}")
        return [Change(self.name, text, apply)]


def sections() -> tuple:
    return _load(tuple(settings.REGULARS_PROGRAM_SECTIONS))


@cache
def _load(paths: tuple[str, ...]) -> tuple:
    out = []
    for path in paths:
        out.extend(import_string(path)())
    return tuple(out)


def program_export() -> dict:
    """The whole configuration: ``{"format": 1, section: data, …}``."""
    return {"format": FORMAT, **{s.name: s.export() for s in sections()}}


def program_import(document: Any, *, dry_run: bool = False) -> list[Change]:
    """Check the whole ``document``, then (unless ``dry_run``) apply it in one
    transaction. Sections it lacks are left alone. Returns the changes
    (none: the installation already has this configuration)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValidationError(
            _("Not a program document (format %(n)s).") % {"n": FORMAT}
        )
    known = {s.name for s in sections()}
    unknown = set(document) - known - {"format"}
    if unknown:
        raise ValidationError(
            _("Unknown sections: %(names)s.") % {"names": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        changes: list[Change] = []
        # In order: each section is applied before the next is checked, so a
        # promotion can name a tier the same document creates.
        for section in sections():
            if section.name not in document:
                continue
            found = section.changes(document[section.name])
            for change in found:
                change.apply()
            changes.extend(found)
        if dry_run:
            transaction.set_rollback(True)
    return changes


def document_dumps(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)


# --- The rewards app's sections -----------------------------------------------
# ``REGULARS_PROGRAM_SECTIONS`` lists functions returning sections, in order.


def rewards_sections() -> list[ModelSection]:
    from rewards.models import CategoryEarnRate, ProgramSettings, Reward, Tier

    return [
        ModelSection("settings", ProgramSettings, key="pk", singleton=True),
        # Tiers and rewards name each other: tiers first, then rewards, then
        # each tier's monthly reward.
        ModelSection("tiers", Tier, key="code", exclude=("monthly_reward",)),
        ModelSection("earn_rates", CategoryEarnRate, key="category",
                     refs={"category": "code"}),
        ModelSection("rewards", Reward, key="name",
                     refs={"service": "code", "min_tier": "code"}),
        ModelSection("tier_rewards", Tier, key="code",
                     refs={"monthly_reward": "name"}, only=("code", "monthly_reward")),
    ]  # fmt: skip
