"""Recording the audit trail: ``audited()`` on a model keeps its versions
(django-simple-history: who, when, the whole row), and every new version adds
an ``AuditEvent`` with the request's IP and the fields that changed.

Who and from where come from the request being served
(``simple_history.middleware.HistoryRequestMiddleware`` keeps it for the
thread); a change made by a Celery task, a command or a migration has no
user and no IP: the system made it. Bulk writes (``update()``,
``bulk_create``, COPY) write no version: they are the program's own batch
jobs, not staff edits.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import pre_save
from simple_history.models import HistoricalRecords
from simple_history.signals import (
    post_create_historical_record,
    pre_create_historical_record,
)

from audit.models import AuditedVersion, AuditEvent
from core.net import client_ip

# Never kept in a version: secrets' hashes.
ALWAYS_EXCLUDED = {"key_hash"}


def audited(*, excluded_fields: list[str] | None = None) -> HistoricalRecords:
    """The ``history`` of an audited model (its field ``history = audited()``)."""
    return HistoricalRecords(
        bases=[AuditedVersion],
        excluded_fields=list(excluded_fields or []),
        get_user=_staff_user,
    )


def _staff_user(request=None, **kwargs):
    """The staff user of the request, if one is signed in: an app member or a
    POS key (the API's callers) is not staff, and their changes are the
    system's (the services decide them)."""
    user = getattr(request, "user", None)
    if isinstance(user, AbstractBaseUser) and user.is_authenticated:
        return user
    return None


def _request():
    return getattr(HistoricalRecords.context, "request", None)


def _plain(value):
    """A value as JSON keeps it: dates and decimals as ISO text, the rest as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _fields(version) -> list[str]:
    return [
        field.attname
        for field in version.instance_type._meta.concrete_fields
        if field.attname not in ALWAYS_EXCLUDED and hasattr(version, field.attname)
    ]


def _changes(version, instance) -> dict:
    values = {name: _plain(getattr(version, name)) for name in _fields(version)}
    if version.history_type == "~":
        before = getattr(instance, "_audit_before", None) or {}
        return {
            name: [_plain(before.get(name)), value]
            for name, value in values.items()
            if name in before and _plain(before[name]) != value
        }
    if version.history_type == "+":
        return {name: [None, value] for name, value in values.items()}
    return {name: [value, None] for name, value in values.items()}


def _remember_before(sender, instance, raw=False, **kwargs) -> None:
    """Before an audited row is saved, its values as stored (one query): the
    "before" of its event, whether or not an earlier version was recorded."""
    if raw or instance.pk is None:
        return
    if getattr(sender._meta, "simple_history_manager_attribute", None) is None:
        return
    names = [
        f.attname
        for f in sender._meta.concrete_fields
        if f.attname not in ALWAYS_EXCLUDED
    ]
    stored = sender._base_manager.filter(pk=instance.pk).values(*names).first()
    instance._audit_before = stored or {}


def _fill_ip(sender, history_instance, **kwargs) -> None:
    request = _request()
    if request is not None:
        history_instance.history_ip = client_ip(request)


def _record(sender, instance, history_instance, **kwargs) -> None:
    version = history_instance
    user = version.history_user
    AuditEvent.objects.create(
        at=version.history_date,
        user=user,
        username=getattr(user, "username", "") if user else "",
        ip=version.history_ip,
        action=version.history_type,
        content_type=ContentType.objects.get_for_model(
            version.instance_type, for_concrete_model=True
        ),
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        changes=_changes(version, instance),
    )


def redact(model, pk) -> None:
    """Forget an object's values (a member's erasure): its versions go, its
    audit events keep who changed which fields when, without the values."""
    model.history.filter(**{model._meta.pk.attname: pk}).delete()
    content_type = ContentType.objects.get_for_model(model)
    events = AuditEvent.objects.filter(content_type=content_type, object_id=str(pk))
    for event in events.only("pk", "changes"):
        event.changes = {name: ["…", "…"] for name in event.changes}
        event.object_repr = f"#{pk}"
        event.save(update_fields=["changes", "object_repr"])


def connect() -> None:
    pre_save.connect(_remember_before, dispatch_uid="audit_remember_before")
    pre_create_historical_record.connect(_fill_ip, dispatch_uid="audit_fill_ip")
    post_create_historical_record.connect(_record, dispatch_uid="audit_record")
