"""Factories for the members app.

There is no VisitFactory on purpose: visits are recorded through
``members.services.visit_record`` (see the ``record_visit`` fixture) so the
members' cached stats always match their visits.
"""

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from members.models import Location, Member, Service, ServiceCategory


class LocationFactory(DjangoModelFactory):
    class Meta:
        model = Location

    name = factory.Sequence(lambda n: f"Branch {n}")
    code = factory.Sequence(lambda n: f"branch-{n}")
    address = factory.Sequence(lambda n: f"{n} Tverskaya St, Moscow")
    is_active = True


class ServiceCategoryFactory(DjangoModelFactory):
    class Meta:
        model = ServiceCategory

    name = factory.Sequence(lambda n: f"Category {n}")
    code = factory.Sequence(lambda n: f"category-{n}")
    sort_order = factory.Sequence(lambda n: n % 100)


class ServiceFactory(DjangoModelFactory):
    class Meta:
        model = Service

    category = factory.SubFactory(ServiceCategoryFactory)
    name = factory.Sequence(lambda n: f"Massage {n}, 60 min")
    code = factory.Sequence(lambda n: f"massage-{n}")
    base_price = Decimal("2500.00")
    duration_minutes = 60
    is_active = True


class MemberFactory(DjangoModelFactory):
    """A member with a valid, unique Russian mobile number in E.164."""

    class Meta:
        model = Member

    phone = factory.Sequence(lambda n: f"+7916{n % 10_000_000:07d}")
    first_name = factory.Sequence(lambda n: f"Anna{n}")
    last_name = factory.Sequence(lambda n: f"Ivanova{n}")
    email = factory.Sequence(lambda n: f"member{n}@example.com")
    status = Member.Status.ACTIVE
