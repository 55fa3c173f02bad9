"""Templates, rendering and quiet hours of the outbox.

Every body is plain text (SMS, push, the in-app inbox and plain-text email), so
templates render with autoescaping off: "Tom & Jerry" must not reach a phone as
"Tom &amp; Jerry". Rendering runs in the message's language, so filters such as
``{{ expires_on|date:"DATE_FORMAT" }}`` speak it too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.template import Context, Engine, Template
from django.utils import timezone, translation

from members.models import MessageTemplate

# Template keys whose context holds a secret (a sign-in code): the context is
# stored masked and the body is masked once the message is no longer queued, so
# staff reading the outbox cannot sign in as a member.
SENSITIVE_TEMPLATES: dict[str, tuple[str, ...]] = {"otp_code": ("code",)}
MASK = "••••••"


class TemplateMissing(LookupError):
    """No active template for this key and channel in any fallback language."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    language: str  # the template's language, after fallback


def languages_to_try(language: str) -> list[str]:
    """The member's language, then the site's, then English; no repeats."""
    out: list[str] = []
    for code in (language, settings.LANGUAGE_CODE, "en"):
        if code and code not in out:
            out.append(code)
    return out


def template_find(*, key: str, channel: str, language: str) -> MessageTemplate:
    """The active template for key/channel in the best available language."""
    wanted = languages_to_try(language)
    found = {
        t.language: t
        for t in MessageTemplate.objects.filter(
            key=key, channel=channel, language__in=wanted, is_active=True
        )
    }
    for code in wanted:
        if code in found:
            return found[code]
    raise TemplateMissing(f"no template {key!r} for {channel} in {wanted}")


@lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    # Compiled once per distinct text: the nightly notices render thousands of
    # messages from a handful of templates. An edited template is a new key.
    return Template(source, engine=Engine.get_default())


def render_text(source: str, context: dict, language: str) -> str:
    """Render one template text (``TemplateSyntaxError`` if the text is broken)."""
    if not source:
        return ""
    template = _compile(source)
    if translation.get_language() == language:  # a batch sets it once
        return template.render(Context(context, autoescape=False)).strip()
    with translation.override(language):
        return template.render(Context(context, autoescape=False)).strip()


def render(
    template: MessageTemplate, context: dict, *, member=None, language: str
) -> Rendered:
    """Subject and body of ``template`` for ``context`` (and ``member``)."""
    full = {"member": member, **context}
    subject = render_text(template.subject, full, language)
    body = render_text(template.body, full, language)
    subject_field = template._meta.get_field("subject")
    return Rendered(subject[: subject_field.max_length], body, template.language)


_JSON_PLAIN = frozenset({str, int, float, bool, type(None)})


def json_safe(context: dict) -> dict:
    """``context`` as stored in the JSON column (dates as ISO, Decimals as text)."""
    if all(type(v) in _JSON_PLAIN for v in context.values()):
        return dict(context)  # nothing to convert (a campaign's texts)
    return json.loads(json.dumps(context, cls=DjangoJSONEncoder))


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def revive(context: dict) -> dict:
    """A stored (JSON) context with ISO dates and datetimes as objects again.

    So ``{{ expires_on|date:"j E" }}`` renders the same from a stored context
    (a resend, masking a secret) as it did from the sender's.
    """
    out = {}
    for key, value in context.items():
        if isinstance(value, str) and _ISO_DATE.match(value):
            with contextlib.suppress(ValueError):
                value = dt.date.fromisoformat(value)
        elif isinstance(value, str) and _ISO_DATETIME.match(value):
            with contextlib.suppress(ValueError):
                value = dt.datetime.fromisoformat(value)
        out[key] = value
    return out


def masked_context(template_key: str, context: dict) -> dict:
    """``context`` with the secrets of a sensitive template replaced by a mask."""
    secrets = SENSITIVE_TEMPLATES.get(template_key, ())
    return {k: (MASK if k in secrets else v) for k, v in context.items()}


# --- Quiet hours --------------------------------------------------------------


def _parse_quiet_hours(value: str) -> tuple[dt.time, dt.time] | None:
    """``"21:00-09:00"`` → (21:00, 09:00); empty or equal ends → None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        start_s, end_s = (part.strip() for part in value.split("-", 1))
        start = dt.time.fromisoformat(start_s)
        end = dt.time.fromisoformat(end_s)
    except ValueError as exc:
        raise ValueError(
            f"MESSAGE_QUIET_HOURS must look like '21:00-09:00', not {value!r}"
        ) from exc
    return None if start == end else (start, end)


def quiet_hours_end(
    now: dt.datetime | None = None, quiet_hours: str | None = None
) -> dt.datetime | None:
    """When the quiet hours around ``now`` end, or None if ``now`` is not in them.

    Quiet hours are wall-clock times in TIME_ZONE and may wrap midnight
    ("21:00-09:00"): 23:30 and 08:59 are inside, 09:00 is not.
    """
    span = _parse_quiet_hours(
        settings.MESSAGE_QUIET_HOURS if quiet_hours is None else quiet_hours
    )
    if span is None:
        return None
    start, end = span
    tz = timezone.get_default_timezone()
    local = timezone.localtime(now or timezone.now(), tz)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date()
    if t >= end:  # wrapped: the quiet night ends tomorrow morning
        day += dt.timedelta(days=1)
    naive = dt.datetime.combine(day, end)
    return timezone.make_aware(naive, tz)
