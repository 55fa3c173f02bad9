import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    # The daily aggregates (analytics.models.daily): written by hand, not by
    # makemigrations, while two people add models to this app at once.
    dependencies = [("analytics", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="CohortStat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("cohort", models.DateField(verbose_name="cohort month")),
                (
                    "offset",
                    models.PositiveSmallIntegerField(verbose_name="months after"),
                ),
                (
                    "members",
                    models.PositiveIntegerField(default=0, verbose_name="members"),
                ),
                (
                    "location",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.location",
                        verbose_name="location",
                    ),
                ),
                (
                    "tier",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="rewards.tier",
                        verbose_name="tier",
                    ),
                ),
            ],
            options={
                "verbose_name": "cohort figures",
                "verbose_name_plural": "cohort figures",
                "indexes": [
                    models.Index(fields=["cohort"], name="cohortstat_cohort_idx")
                ],
            },
        ),
        migrations.CreateModel(
            name="DailyStat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("day", models.DateField(verbose_name="day")),
                (
                    "member_visits",
                    models.PositiveIntegerField(
                        default=0, verbose_name="members' paid visits"
                    ),
                ),
                (
                    "member_money",
                    models.DecimalField(
                        decimal_places=2,
                        default=0,
                        max_digits=14,
                        verbose_name="members' money",
                    ),
                ),
                (
                    "anon_visits",
                    models.PositiveIntegerField(
                        default=0, verbose_name="anonymous paid visits"
                    ),
                ),
                (
                    "anon_money",
                    models.DecimalField(
                        decimal_places=2,
                        default=0,
                        max_digits=14,
                        verbose_name="anonymous money",
                    ),
                ),
                (
                    "new_members",
                    models.PositiveIntegerField(default=0, verbose_name="new members"),
                ),
                (
                    "new_retained",
                    models.PositiveIntegerField(
                        default=0, verbose_name="new members retained"
                    ),
                ),
                (
                    "points_issued",
                    models.BigIntegerField(default=0, verbose_name="points issued"),
                ),
                (
                    "points_redeemed",
                    models.BigIntegerField(default=0, verbose_name="points redeemed"),
                ),
                (
                    "points_expired",
                    models.BigIntegerField(default=0, verbose_name="points expired"),
                ),
                (
                    "lots_issued",
                    models.BigIntegerField(
                        default=0, verbose_name="points of lots credited"
                    ),
                ),
                (
                    "lots_expired",
                    models.BigIntegerField(default=0, verbose_name="of them expired"),
                ),
                (
                    "location",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.location",
                        verbose_name="location",
                    ),
                ),
                (
                    "tier",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="rewards.tier",
                        verbose_name="tier",
                    ),
                ),
            ],
            options={
                "verbose_name": "daily figures",
                "verbose_name_plural": "daily figures",
                "indexes": [models.Index(fields=["day"], name="dailystat_day_idx")],
            },
        ),
    ]
