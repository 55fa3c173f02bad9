"""Specialists: who performs a visit's services.

A visit line may name a specialist (instance, id or code); they must exist, be
active and work at the visit's location. The booking fingerprint holds them
only when set, so bookings recorded without one keep replaying.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from members import selectors, services
from members.models import Specialist, Visit
from tests.conftest import error_codes
from tests.factories import LocationFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def olga(location):
    specialist = Specialist.objects.create(name="Olga Kuznetsova", code="olga-k")
    specialist.locations.set([location])
    return specialist


@pytest.fixture
def ivan(location):
    specialist = Specialist.objects.create(name="Ivan Petrov", code="ivan-p")
    specialist.locations.set([location])
    return specialist


def line(service, specialist=None, **kwargs):
    return services.VisitLineInput(service=service, specialist=specialist, **kwargs)


# --- Services ------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["instance", "id", "code"])
def test_a_visit_line_keeps_its_specialist(member, service, olga, record_visit, ref):
    named = {"instance": olga, "id": olga.pk, "code": "olga-k"}[ref]

    visit = record_visit(member, lines=[line(service, named), line(service)])

    assert [ln.specialist_id for ln in visit.lines.order_by("pk")] == [olga.pk, None]


def test_an_unknown_specialist_is_refused(member, service, record_visit):
    for ref in (999_999, "nobody"):
        with pytest.raises(ValidationError) as exc:
            record_visit(member, lines=[line(service, ref)])
        assert error_codes(exc.value) == {"unknown_specialist"}
    assert not Visit.objects.exists()


def test_an_inactive_specialist_is_refused(member, service, olga, record_visit):
    olga.is_active = False
    olga.save()

    with pytest.raises(ValidationError) as exc:
        record_visit(member, lines=[line(service, olga.pk)])

    assert error_codes(exc.value) == {"specialist_not_active"}


def test_a_specialist_of_another_location_is_refused(member, service, record_visit):
    elsewhere = Specialist.objects.create(name="Kirill", code="kirill")
    elsewhere.locations.set([LocationFactory()])

    with pytest.raises(ValidationError) as exc:
        record_visit(member, lines=[line(service, "kirill")])

    assert error_codes(exc.value) == {"specialist_not_at_location"}
    assert not Visit.objects.exists()


def test_lines_without_specialists_cost_no_query(service, location, olga, ivan):
    with CaptureQueriesContext(connection) as none:
        assert services.specialists_check([line(service)], location=location) == [None]
    with CaptureQueriesContext(connection) as some:
        found = services.specialists_check(
            [line(service, olga), line(service, "ivan-p"), line(service)],
            location=location,
        )

    assert found == [olga, ivan, None]
    assert len(none) == 0
    assert len(some) == 1


def test_a_retry_without_specialists_keeps_its_fingerprint(service):
    priced = [(service, service.base_price, 1)]

    assert services.fingerprint_lines(priced) == [
        [service.pk, str(service.base_price), 1]
    ]
    assert services.fingerprint_lines(priced, [None]) == services.fingerprint_lines(
        priced
    )


def test_a_retry_naming_another_specialist_conflicts(
    member, service, olga, ivan, record_visit
):
    record_visit(member, lines=[line(service, olga)], external_id="B-1", source="pos")

    same = record_visit(
        member, lines=[line(service, "olga-k")], external_id="B-1", source="pos"
    )
    with pytest.raises(ValidationError) as exc:
        record_visit(
            member, lines=[line(service, ivan)], external_id="B-1", source="pos"
        )

    assert same.lines.get().specialist == olga
    assert error_codes(exc.value) == {"external_id_conflict"}


# --- Selectors -----------------------------------------------------------------


def test_the_favourite_specialist_did_most_lines_this_year(
    member, service, olga, ivan, record_visit
):
    long_ago = timezone.now() - timedelta(days=400)
    record_visit(member, lines=[line(service, ivan)] * 3, paid_at=long_ago)
    record_visit(member, lines=[line(service, olga), line(service, olga)])
    record_visit(member, lines=[line(service, ivan), line(service)])
    other = MemberFactory()
    record_visit(other, lines=[line(service, ivan)] * 5)

    assert selectors.member_favourite_specialist(member_id=member.pk) == olga
    assert selectors.member_favourite_specialist(member_id=other.pk) == ivan
    assert selectors.member_favourite_specialist(member_id=MemberFactory().pk) is None


# --- Admin ---------------------------------------------------------------------


def test_manager_adds_a_specialist(manager_client, location):
    response = manager_client.post(
        reverse("admin:members_specialist_add"),
        {
            "name": "Anna Smirnova",
            "code": "anna-s",
            "locations": [location.pk],
            "is_active": "on",
            "user": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].errors
    anna = Specialist.objects.get(code="anna-s")
    assert list(anna.locations.all()) == [location]


def test_the_specialist_list_shows_locations_and_filters(
    analyst_client, olga, location
):
    url = reverse("admin:members_specialist_changelist")

    page = analyst_client.get(url, {"locations__id__exact": location.pk})
    searched = analyst_client.get(url, {"q": "olga"})

    assert page.status_code == 200
    assert "Olga Kuznetsova" in page.text and location.name in page.text
    assert "Olga Kuznetsova" in searched.text
    assert analyst_client.get(reverse("admin:members_specialist_add")).status_code == (
        403
    )


def test_the_visit_page_shows_the_lines_specialist(
    admin_client, member, service, olga, record_visit
):
    visit = record_visit(member, lines=[line(service, olga)])

    page = admin_client.get(reverse("admin:members_visit_change", args=[visit.pk]))

    assert page.status_code == 200
    assert "Olga Kuznetsova" in page.text


def test_the_visit_list_filters_by_specialist(
    admin_client, service, olga, ivan, record_visit
):
    anna, boris = MemberFactory(), MemberFactory()
    by_olga = record_visit(anna, lines=[line(service, olga), line(service, olga)])
    record_visit(boris, lines=[line(service, ivan)])

    page = admin_client.get(
        reverse("admin:members_visit_changelist"), {"specialist": olga.pk}
    )

    assert page.status_code == 200
    assert [v.pk for v in page.context["cl"].result_list] == [by_olga.pk]


def test_the_member_page_shows_the_favourite_specialist(
    admin_client, member, service, olga, record_visit
):
    record_visit(member, lines=[line(service, olga)])

    page = admin_client.get(reverse("admin:members_member_change", args=[member.pk]))

    assert page.status_code == 200
    assert "Olga Kuznetsova" in page.text


def test_a_specialist_may_be_a_staff_user(olga):
    user = get_user_model().objects.create_user(username="olga", is_staff=True)
    olga.user = user
    olga.save()

    assert Specialist.objects.get(user=user) == olga
