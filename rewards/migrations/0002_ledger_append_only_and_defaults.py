"""Ledger entries refuse UPDATE (and DELETE on PostgreSQL) in the database too;
the program ships with its settings row and the seed's four tiers."""

from decimal import Decimal

from django.db import migrations

PG_TRIGGER = """
CREATE OR REPLACE FUNCTION rewards_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rewards_ledgerentry is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER rewards_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON rewards_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION rewards_ledger_append_only();
"""
PG_TRIGGER_DROP = """
DROP TRIGGER IF EXISTS rewards_ledgerentry_append_only ON rewards_ledgerentry;
DROP FUNCTION IF EXISTS rewards_ledger_append_only();
"""
# SQLite: UPDATE only. Django empties SQLite tables with DELETE between
# transactional tests (PostgreSQL uses TRUNCATE, which no row trigger sees);
# the model and its queryset refuse deletes on every database.
SQLITE_TRIGGER = """
CREATE TRIGGER rewards_ledgerentry_append_only
BEFORE UPDATE ON rewards_ledgerentry
BEGIN
    SELECT RAISE(ABORT, 'rewards_ledgerentry is append-only: UPDATE refused');
END;
"""
SQLITE_TRIGGER_DROP = "DROP TRIGGER IF EXISTS rewards_ledgerentry_append_only;"

TIERS = [
    # rank, code, name, visits, spend, discount, first visit, multiplier, perks
    (
        0,
        "base",
        "Base",
        None,
        None,
        "0",
        "5",
        "1.00",
        "5% off your first visit\nEarn points on every visit",
    ),
    (
        1,
        "silver",
        "Silver",
        5,
        "20000",
        "10",
        "0",
        "1.25",
        "10% off every visit\nPriority booking",
    ),
    (
        2,
        "gold",
        "Gold",
        15,
        "60000",
        "15",
        "0",
        "1.50",
        "15% off every visit\nA free 30-minute massage every month\nExclusive offers",
    ),
    (
        3,
        "platinum",
        "Platinum",
        30,
        "150000",
        "20",
        "0",
        "2.00",
        "20% off every visit\nPermanent priority booking\nA personal manager\n"
        "Free add-ons (aromatherapy)",
    ),
]
COLORS = {
    "base": "#8d8d8d",
    "silver": "#a8b3bd",
    "gold": "#d4a017",
    "platinum": "#5b6b8c",
}


def triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_TRIGGER, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


def triggers_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_TRIGGER_DROP, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER_DROP)


def defaults(apps, schema_editor):
    ProgramSettings = apps.get_model("rewards", "ProgramSettings")
    Tier = apps.get_model("rewards", "Tier")
    ProgramSettings.objects.get_or_create(pk=1)
    if Tier.objects.exists():
        return
    for rank, code, name, visits, spend, disc, first, mult, perks in TIERS:
        Tier.objects.create(
            rank=rank,
            code=code,
            name=name,
            min_visits=visits,
            min_spend=Decimal(spend) if spend else None,
            discount_percent=Decimal(disc),
            first_visit_discount_percent=Decimal(first),
            points_multiplier=Decimal(mult),
            perks=perks,
            color=COLORS[code],
        )


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial")]

    operations = [
        migrations.RunPython(triggers, triggers_drop),
        migrations.RunPython(defaults, migrations.RunPython.noop),
    ]
