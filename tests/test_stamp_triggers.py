"""Every cached config table still bumps its stamp after all the migrations.

SQLite alters a table by rebuilding it, which drops its triggers; a migration
that alters a cached table must put them back, or an edit there goes unseen
by the processes' caches (``core.stamps``) until they expire.
"""

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from core import stamps
from members.models import Location, Service, ServiceCategory
from rewards.models import CategoryEarnRate, ProgramSettings, Tier
from tests.factories import LocationFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def stamp_values() -> dict[int, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, value FROM core_stamp")
        return dict(cursor.fetchall())


@pytest.fixture
def rows():
    service = ServiceFactory()
    LocationFactory()
    CategoryEarnRate.objects.create(category=service.category, rate=5)


@pytest.mark.parametrize(
    "update",
    [
        lambda: ProgramSettings.objects.update(updated_at=timezone.now()),
        lambda: Tier.objects.update(rank=F("rank")),
        lambda: CategoryEarnRate.objects.update(rate=F("rate")),
        lambda: Service.objects.update(name=F("name")),
        lambda: ServiceCategory.objects.update(name=F("name")),
        lambda: Location.objects.update(name=F("name")),
    ],
    ids=["program", "tier", "rate", "service", "category", "location"],
)
def test_an_update_of_a_cached_table_moves_the_config_stamp(rows, update):
    before = stamp_values().get(stamps.CONFIG)
    assert update() > 0
    assert stamp_values().get(stamps.CONFIG) != before


def test_a_settings_edit_is_seen_by_the_cached_selector():
    from rewards.selectors import program_settings

    assert program_settings().price_change_limit_pct == 20
    ProgramSettings.objects.update(price_change_limit_pct=35)
    assert program_settings().price_change_limit_pct == 35
