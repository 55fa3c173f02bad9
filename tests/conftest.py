"""Shared fixtures: a small catalogue, members, visits recorded through services,
and admin clients for each staff role."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import translation
from rest_framework.test import APIClient

from core import stamps
from members import access, roles, services
from members.models import Member
from members.platform_services import roles_sync
from tests.factories import (
    LocationFactory,
    MemberFactory,
    ServiceCategoryFactory,
    ServiceFactory,
)

MOSCOW = ZoneInfo("Europe/Moscow")


def moscow(*args) -> datetime:
    """An aware datetime in the business's time zone."""
    return datetime(*args, tzinfo=MOSCOW)


def error_codes(exc: ValidationError) -> set[str]:
    """Every code a ValidationError carries, whether it is per field or not."""
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors}
    return {e.code for e in exc.error_list}


def stats_of(member: Member) -> tuple:
    """A member's cached visit stats, fresh from the database."""
    member.refresh_from_db()
    return (
        member.visits_count,
        member.total_spent,
        member.first_visit_at,
        member.last_visit_at,
    )


@pytest.fixture
def location(db):
    return LocationFactory(name="Patriarch Ponds", code="patriki")


@pytest.fixture
def category(db):
    return ServiceCategoryFactory(name="Massage", code="massage")


@pytest.fixture
def service(category):
    return ServiceFactory(
        category=category,
        name="Classic massage, 60 min",
        code="classic-60",
        base_price=Decimal("3000.00"),
    )


@pytest.fixture
def addon(category):
    return ServiceFactory(
        category=category,
        name="Aromatherapy add-on",
        code="aroma",
        base_price=Decimal("500.00"),
        duration_minutes=15,
    )


@pytest.fixture
def member(db):
    return MemberFactory(first_name="Anna", last_name="Smirnova")


@pytest.fixture
def record_visit(location, service):
    """Record a paid visit through the service, one line of ``service`` by default."""

    def record(member, *, lines=None, **kwargs):
        kwargs.setdefault("location", location)
        if lines is None:
            lines = [services.VisitLineInput(service=service)]
        return services.visit_record(member=member, lines=lines, **kwargs).visit

    return record


# --- Staff ------------------------------------------------------------------


@pytest.fixture
def staff_roles(db):
    """The staff groups with their permissions, as ``manage.py setup_roles`` makes them."""
    roles_sync()


def _staff_client(client, username: str, role: str):
    user = get_user_model().objects.create_user(
        username=username, password="x", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def front_desk_client(client, staff_roles):
    return _staff_client(client, "desk", roles.FRONT_DESK)


@pytest.fixture
def manager_client(client, staff_roles):
    return _staff_client(client, "manager", roles.MANAGER)


@pytest.fixture
def analyst_client(client, staff_roles):
    return _staff_client(client, "analyst", roles.ANALYST)


# --- API --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _default_language():
    """A request with Accept-Language leaves its language active in the thread;
    the next test must start in the default language."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache, settings and tiers in the process
    caches (``core.stamps``): every test starts with none, so a query count
    never depends on which test ran before."""
    cache.clear()
    stamps.ProcessCache.clear_all()
    yield
    cache.clear()
    stamps.ProcessCache.clear_all()


def promotions_cached() -> None:
    """Load the active promotions into the process cache, as a running
    process has them (``campaigns.rules``): a query count of the checkout then
    counts what each request costs, not a process's first load."""
    from campaigns.rules import active_rules

    active_rules()


@pytest.fixture
def api_client():
    """An anonymous API client (JSON by default)."""
    return APIClient()


@pytest.fixture
def member_api(db):
    """``member_api(member)`` → an API client signed in as ``member`` (Bearer)."""

    def make(member: Member) -> APIClient:
        token, raw = access.token_issue(member=member)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        client.member = member
        client.token = token
        return client

    return make


@pytest.fixture
def pos_api(db):
    """``pos_api(location)`` → an API client holding a POS key of ``location``."""

    def make(location) -> APIClient:
        key, raw = access.api_key_issue(location=location, name="test till")
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=raw)
        client.location = location
        client.api_key = key
        client.raw_key = raw
        return client

    return make


def pytest_configure(config):
    # WhiteNoise warns on every request when collectstatic has not run; tests
    # serve no static files.
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")
