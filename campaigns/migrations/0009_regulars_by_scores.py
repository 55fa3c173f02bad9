"""The built-in "Regulars" segment reads the nightly scores (visits in 12
months) instead of counting visits in 180 days: the same idea, a column
instead of an aggregate over the visits (0.1 s against 2.6 s on 1M members).
A segment a manager has changed is left as it is."""

from django.conf import settings
from django.db import migrations
from django.utils import translation
from django.utils.translation import gettext

OLD = {
    "op": "or",
    "rules": [
        {
            "op": "and",
            "rules": [
                {
                    "field": "visits_in_days",
                    "cmp": "gte",
                    "value": {"days": 180, "amount": 3},
                },
                {"field": "last_visit_days", "cmp": "lte", "value": 60},
            ],
        }
    ],
}
NEW = {
    "op": "or",
    "rules": [
        {
            "op": "and",
            "rules": [
                {"field": "visits_12m", "cmp": "gte", "value": 3},
                {"field": "last_visit_days", "cmp": "lte", "value": 60},
            ],
        }
    ],
}


def forwards(apps, schema_editor):
    Segment = apps.get_model("campaigns", "Segment")
    with translation.override(settings.LANGUAGE_CODE):
        description = gettext(
            "At least 3 visits in the last 12 months, the last one within 60 days."
        )
    Segment.objects.filter(builtin="regular", definition=OLD).update(
        definition=NEW, description=description
    )


def backwards(apps, schema_editor):
    Segment = apps.get_model("campaigns", "Segment")
    Segment.objects.filter(builtin="regular", definition=NEW).update(definition=OLD)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0008_campaigns_journeys")]

    operations = [migrations.RunPython(forwards, backwards)]
