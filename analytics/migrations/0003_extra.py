# Specialists, services and marketing spend (analytics.models.extra):
# written by hand, not by makemigrations.
from decimal import Decimal

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_daily"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="MarketingSpend",
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
                (
                    "month",
                    models.DateField(
                        help_text="The first day of the month the money was spent in.",
                        unique=True,
                        verbose_name="month",
                    ),
                ),
                (
                    "amount",
                    models.DecimalField(
                        decimal_places=2,
                        help_text="Money spent on marketing in the month.",
                        max_digits=12,
                        validators=[
                            django.core.validators.MinValueValidator(Decimal("0"))
                        ],
                        verbose_name="amount",
                    ),
                ),
                (
                    "note",
                    models.CharField(blank=True, max_length=255, verbose_name="note"),
                ),
                (
                    "entered_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now,
                        editable=False,
                        verbose_name="entered",
                    ),
                ),
                (
                    "entered_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="entered by",
                    ),
                ),
            ],
            options={
                "verbose_name": "marketing spend",
                "verbose_name_plural": "marketing spend",
                "ordering": ["-month"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("amount__gte", 0)),
                        name="marketing_spend_not_negative",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="MemberValueDaily",
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
                ("first_day", models.DateField(verbose_name="first paid visit")),
                (
                    "joined_via",
                    models.CharField(max_length=16, verbose_name="joined via"),
                ),
                (
                    "members",
                    models.PositiveIntegerField(default=0, verbose_name="members"),
                ),
                (
                    "lifetime_revenue",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0"),
                        max_digits=16,
                        verbose_name="lifetime revenue",
                    ),
                ),
                (
                    "members_12m",
                    models.PositiveIntegerField(
                        default=0, verbose_name="members with a visit in 12 months"
                    ),
                ),
                (
                    "revenue_12m",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0"),
                        max_digits=16,
                        verbose_name="revenue in 12 months",
                    ),
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
                        verbose_name="registration location",
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
                "verbose_name": "member value by first visit",
                "verbose_name_plural": "member value by first visit",
                "indexes": [
                    models.Index(fields=["first_day"], name="an_member_value_day_idx")
                ],
            },
        ),
        migrations.CreateModel(
            name="ServiceDaily",
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
                (
                    "units",
                    models.PositiveIntegerField(default=0, verbose_name="units sold"),
                ),
                (
                    "revenue",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0"),
                        max_digits=16,
                        verbose_name="revenue",
                    ),
                ),
                (
                    "visits",
                    models.PositiveIntegerField(default=0, verbose_name="visits"),
                ),
                ("day", models.DateField(verbose_name="day")),
                (
                    "location",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.location",
                        verbose_name="location",
                    ),
                ),
                (
                    "service",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.service",
                        verbose_name="service",
                    ),
                ),
                (
                    "specialist",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.specialist",
                        verbose_name="specialist",
                    ),
                ),
            ],
            options={
                "verbose_name": "service by day",
                "verbose_name_plural": "services by day",
                "indexes": [
                    models.Index(fields=["day", "location"], name="an_service_day_idx")
                ],
            },
        ),
        migrations.CreateModel(
            name="ServiceMonthly",
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
                (
                    "units",
                    models.PositiveIntegerField(default=0, verbose_name="units sold"),
                ),
                (
                    "revenue",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0"),
                        max_digits=16,
                        verbose_name="revenue",
                    ),
                ),
                (
                    "visits",
                    models.PositiveIntegerField(default=0, verbose_name="visits"),
                ),
                ("month", models.DateField(verbose_name="month")),
                (
                    "location",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.location",
                        verbose_name="location",
                    ),
                ),
                (
                    "service",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.service",
                        verbose_name="service",
                    ),
                ),
                (
                    "specialist",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.specialist",
                        verbose_name="specialist",
                    ),
                ),
            ],
            options={
                "verbose_name": "service by month",
                "verbose_name_plural": "services by month",
                "indexes": [
                    models.Index(
                        fields=["month", "location"], name="an_service_month_idx"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ServicePairDaily",
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
                (
                    "visits",
                    models.PositiveIntegerField(default=0, verbose_name="visits"),
                ),
                ("day", models.DateField(verbose_name="day")),
                (
                    "location",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.location",
                        verbose_name="location",
                    ),
                ),
                (
                    "service_a",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.service",
                        verbose_name="service",
                    ),
                ),
                (
                    "service_b",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.service",
                        verbose_name="bought with",
                    ),
                ),
            ],
            options={
                "verbose_name": "services bought together by day",
                "verbose_name_plural": "services bought together by day",
                "abstract": False,
                "indexes": [models.Index(fields=["day"], name="an_pair_day_idx")],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("service_a__lt", models.F("service_b"))),
                        name="servicepairdaily_ordered",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ServicePairMonthly",
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
                (
                    "visits",
                    models.PositiveIntegerField(default=0, verbose_name="visits"),
                ),
                ("month", models.DateField(verbose_name="month")),
                (
                    "location",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.location",
                        verbose_name="location",
                    ),
                ),
                (
                    "service_a",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.service",
                        verbose_name="service",
                    ),
                ),
                (
                    "service_b",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.service",
                        verbose_name="bought with",
                    ),
                ),
            ],
            options={
                "verbose_name": "services bought together",
                "verbose_name_plural": "services bought together",
                "abstract": False,
                "indexes": [
                    models.Index(fields=["month", "location"], name="an_pair_month_idx")
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("service_a__lt", models.F("service_b"))),
                        name="servicepairmonthly_ordered",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="SpecialistDaily",
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
                (
                    "visits",
                    models.PositiveIntegerField(default=0, verbose_name="visits"),
                ),
                (
                    "revenue",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0"),
                        max_digits=16,
                        verbose_name="revenue",
                    ),
                ),
                (
                    "member_visits",
                    models.PositiveIntegerField(
                        default=0, verbose_name="members' visits"
                    ),
                ),
                (
                    "returning_visits",
                    models.PositiveIntegerField(
                        default=0, verbose_name="returning members' visits"
                    ),
                ),
                ("day", models.DateField(verbose_name="day")),
                (
                    "location",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.location",
                        verbose_name="location",
                    ),
                ),
                (
                    "specialist",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.specialist",
                        verbose_name="specialist",
                    ),
                ),
            ],
            options={
                "verbose_name": "specialist by day",
                "verbose_name_plural": "specialists by day",
                "indexes": [
                    models.Index(
                        fields=["day", "location"], name="an_specialist_day_idx"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="SpecialistMonthly",
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
                (
                    "visits",
                    models.PositiveIntegerField(default=0, verbose_name="visits"),
                ),
                (
                    "revenue",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0"),
                        max_digits=16,
                        verbose_name="revenue",
                    ),
                ),
                (
                    "member_visits",
                    models.PositiveIntegerField(
                        default=0, verbose_name="members' visits"
                    ),
                ),
                (
                    "returning_visits",
                    models.PositiveIntegerField(
                        default=0, verbose_name="returning members' visits"
                    ),
                ),
                ("month", models.DateField(verbose_name="month")),
                (
                    "location",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.location",
                        verbose_name="location",
                    ),
                ),
                (
                    "specialist",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="members.specialist",
                        verbose_name="specialist",
                    ),
                ),
            ],
            options={
                "verbose_name": "specialist by month",
                "verbose_name_plural": "specialists by month",
                "indexes": [
                    models.Index(
                        fields=["month", "location"], name="an_specialist_month_idx"
                    )
                ],
            },
        ),
    ]
