"""The five built-in segments of seed 003 (new, regular, at risk, lost, VIP):
editable, never deleted. Named in the site's language."""

from django.conf import settings
from django.db import migrations
from django.utils import translation
from django.utils.translation import gettext, gettext_noop


def _all(*rules):
    return {"op": "or", "rules": [{"op": "and", "rules": list(rules)}]}


def _rule(field, cmp, value):
    return {"field": field, "cmp": cmp, "value": value}


BUILTIN = [
    (
        "new",
        gettext_noop("New"),
        gettext_noop("First visit in the last 30 days."),
        _all(_rule("first_visit_days", "lte", 30)),
    ),
    (
        "regular",
        gettext_noop("Regulars"),
        gettext_noop(
            "At least 3 visits in the last 12 months, the last one within 60 days."
        ),
        _all(
            _rule("visits_12m", "gte", 3),
            _rule("last_visit_days", "lte", 60),
        ),
    ),
    (
        "at_risk",
        gettext_noop("At risk"),
        gettext_noop("Came at least twice; no visit for 60 to 119 days."),
        _all(
            _rule("visits_count", "gte", 2),
            _rule("last_visit_days", "gte", 60),
            _rule("last_visit_days", "lte", 119),
        ),
    ),
    (
        "lost",
        gettext_noop("Lost"),
        gettext_noop("No visit for 120 days or more."),
        _all(_rule("last_visit_days", "gte", 120)),
    ),
    (
        "vip",
        gettext_noop("VIP"),
        # xgettext:no-python-format
        gettext_noop("The top 10 % of members by spend in the last 12 months."),
        _all(_rule("vip_top_percent", "lte", 10)),
    ),
]


def forwards(apps, schema_editor):
    Segment = apps.get_model("campaigns", "Segment")
    with translation.override(settings.LANGUAGE_CODE):
        for key, name, description, definition in BUILTIN:
            if Segment.objects.filter(builtin=key).exists():
                continue
            name = gettext(name)
            if Segment.objects.filter(name=name).exists():
                name = f"{name} ({key})"
            Segment.objects.create(
                builtin=key,
                name=name,
                description=gettext(description),
                definition=definition,
            )


def backwards(apps, schema_editor):
    apps.get_model("campaigns", "Segment").objects.filter(
        builtin__isnull=False
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0005_segments_scores")]

    operations = [migrations.RunPython(forwards, backwards)]
