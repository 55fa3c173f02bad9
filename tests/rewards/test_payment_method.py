"""How a visit was paid: cash, card, online or a gift certificate.

``Visit.payment_method`` is set by the checkout (the desk's page: see
test_checkout_page) and by ``POST pos/visits`` (optional there), carried
through ``checkout_commit`` to ``visit_insert``. It is part of the booking: a
retry with another method is a conflict. Visits recorded before it was asked
have none (empty), and their retries still replay.

Catalogue: massage 3000.00 (code classic-60); shipped program.
"""

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from members import access
from members import services as member_services
from members.models import Visit
from members.privacy import member_export
from members.services import VisitLineInput
from rewards.services import checkout_commit
from tests.conftest import error_codes, moscow, promotions_cached
from tests.factories import MemberFactory
from tests.rewards.conftest import give_points, row_counts, state_of
from tests.rewards.test_api_pos import codes, issue_voucher
from tests.rewards.test_api_pos_visits import booking

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
VISITS = reverse("pos-visits")
METHODS = ["cash", "card", "online", "gift_certificate"]


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def pos(pos_api, location):
    return pos_api(location)


@pytest.fixture
def regular(record_visit):
    member = MemberFactory(first_name="Anna")
    record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0), amount_paid="0")
    return member


def commit(member, location, service, **kwargs):
    return checkout_commit(
        member=member,
        location=location,
        lines=[VisitLineInput(service=service)],
        **kwargs,
    )


# --- The services -----------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_the_checkout_records_how_the_visit_was_paid(
    regular, location, service, method
):
    result = commit(regular, location, service, payment_method=method)

    result.visit.refresh_from_db()
    assert result.visit.payment_method == method


def test_a_visit_may_say_nothing_of_its_payment(regular, location, service):
    result = commit(regular, location, service)

    result.visit.refresh_from_db()
    assert result.visit.payment_method == ""


@pytest.mark.parametrize("garbage", ["bitcoin", "CARD", " card", "x" * 30])
def test_an_unknown_method_records_nothing(regular, location, service, garbage):
    before = state_of(regular)

    with pytest.raises(ValidationError) as caught:
        commit(regular, location, service, payment_method=garbage)

    assert error_codes(caught.value) == {"invalid_payment_method"}
    assert caught.value.error_dict.keys() == {"payment_method"}
    assert state_of(regular) == before


def test_a_retry_paid_the_same_way_replays(regular, location, service):
    first = commit(regular, location, service, external_id="B-1", payment_method="cash")

    again = commit(regular, location, service, external_id="B-1", payment_method="cash")

    assert (again.created, again.visit.pk) == (False, first.visit.pk)


@pytest.mark.parametrize(
    ("first", "retry"), [("cash", "card"), ("", "card"), ("card", "")]
)
def test_a_retry_paid_another_way_is_a_conflict(
    regular, location, service, first, retry
):
    """A till that timed out, then took the money another way, must hear that
    the visit stands with the first method rather than be told "recorded"."""
    commit(regular, location, service, external_id="B-1", payment_method=first)
    counts = row_counts()

    with pytest.raises(ValidationError) as caught:
        commit(regular, location, service, external_id="B-1", payment_method=retry)

    assert error_codes(caught.value) == {"external_id_conflict"}
    assert row_counts() == counts


def test_bookings_without_a_method_keep_their_fingerprint(regular, location, service):
    """Visits recorded before the method was asked: their retries, which do not
    send one either, must still replay."""
    first = commit(regular, location, service, external_id="B-1")
    without = first.visit.fingerprint

    again = commit(regular, location, service, external_id="B-1", payment_method="")

    assert again.created is False
    assert Visit.objects.get(pk=first.visit.pk).fingerprint == without


def test_a_visit_recorded_elsewhere_keeps_its_method_too(
    record_visit, member, location
):
    visit = record_visit(member, payment_method="online", external_id="imp-1")
    assert visit.payment_method == "online"

    with pytest.raises(ValidationError) as caught:
        record_visit(member, payment_method="card", external_id="imp-1")
    assert error_codes(caught.value) == {"external_id_conflict"}

    with pytest.raises(ValidationError) as caught:
        record_visit(member, payment_method="cheque")
    assert error_codes(caught.value) == {"invalid_payment_method"}


def test_visits_written_in_bulk_have_no_method(member, location, service):
    """The bulk writers (demo, imports) list their columns: the database fills
    the method in."""
    from members.bulk import rows_insert

    rows_insert(
        Visit,
        [
            "member_id",
            "location_id",
            "status",
            "source",
            "external_id",
            "fingerprint",
            "total",
            "amount_paid",
            "paid_at",
            "note",
            "created_at",
            "status_reason",
        ],
        [
            (
                member.pk,
                location.pk,
                "paid",
                "import",
                "",
                "",
                "3000.00",
                "3000.00",
                NOW,
                "",
                NOW,
                "",
            )
        ],
    )

    assert Visit.objects.get().payment_method == ""


# --- POS --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_the_till_says_how_the_visit_was_paid(pos, regular, method):
    response = pos.post(VISITS, booking(regular, payment_method=method))

    assert response.status_code == 201, response.json()
    assert response.json()["visit"]["payment_method"] == method
    assert Visit.objects.get(external_id="B-1001").payment_method == method


@pytest.mark.parametrize("body", [{}, {"payment_method": ""}])
def test_a_till_may_not_say(pos, regular, body):
    response = pos.post(VISITS, booking(regular, **body))

    assert response.status_code == 201
    assert response.json()["visit"]["payment_method"] == ""
    assert Visit.objects.get(external_id="B-1001").payment_method == ""


@pytest.mark.parametrize("garbage", ["bitcoin", "Card", 1, None, ["card"]])
def test_an_unknown_method_is_a_400(pos, regular, garbage):
    counts = row_counts()

    response = pos.post(VISITS, booking(regular, payment_method=garbage))

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert codes(response).keys() == {"payment_method"}
    assert row_counts() == counts


def test_a_retry_answers_the_method_of_the_first_answer(pos, regular):
    first = pos.post(VISITS, booking(regular, payment_method="cash"))

    again = pos.post(VISITS, booking(regular, payment_method="cash"))

    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_a_retry_with_another_method_is_a_409(pos, regular):
    pos.post(VISITS, booking(regular, payment_method="card"))
    counts = row_counts()

    response = pos.post(VISITS, booking(regular, payment_method="cash"))

    assert response.status_code == 409
    assert codes(response) == {"external_id": ["external_id_conflict"]}
    assert row_counts() == counts
    assert Visit.objects.get(external_id="B-1001").payment_method == "card"


def test_the_quote_takes_the_same_body(pos, regular):
    """A till may send one body to the quote and the visit."""
    response = pos.post(reverse("pos-quote"), booking(regular, payment_method="online"))

    assert response.status_code == 200, response.json()


def test_cancel_and_refund_answers_show_the_method(pos, regular):
    pos.post(VISITS, booking(regular, payment_method="online"))

    response = pos.post(reverse("pos-visit-refund", args=["B-1001"]), {})

    assert response.status_code == 200, response.json()
    assert response.json()["visit"]["payment_method"] == "online"


def test_the_method_costs_no_query(pos, regular, django_assert_num_queries):
    """The counts of test_api_pos_visits' hot paths, with a method given."""
    give_points(regular, 1000)
    voucher = issue_voucher(regular)
    access.api_key_authenticate(pos.raw_key)
    body = booking(
        regular,
        voucher_codes=[voucher.code],
        points_to_use=100,
        payment_method="gift_certificate",
    )

    promotions_cached()
    with django_assert_num_queries(22):
        response = pos.post(VISITS, body)
    assert response.status_code == 201
    with django_assert_num_queries(6):
        pos.post(VISITS, body)


def test_the_schema_documents_the_method(client):
    schema = client.get(reverse("api-schema"), {"format": "json"}).json()

    components = schema["components"]["schemas"]
    assert components["PaymentMethodEnum"]["enum"] == METHODS
    visit_in = components["PosVisitInRequest"]["properties"]["payment_method"]
    assert {"$ref": "#/components/schemas/PaymentMethodEnum"} in visit_in["oneOf"]
    assert "payment_method" not in components["PosVisitInRequest"].get("required", [])
    assert "payment_method" in components["PosVisit"]["properties"]


# --- Where visits are shown and exported -----------------------------------------


def test_the_visit_list_shows_and_filters_the_method(
    front_desk_client, record_visit, member
):
    cash = record_visit(member, payment_method="cash")
    card = record_visit(member, payment_method="card")

    listed = front_desk_client.get(reverse("admin:members_visit_changelist"))
    filtered = front_desk_client.get(
        reverse("admin:members_visit_changelist"), {"payment_method__exact": "cash"}
    )

    assert listed.status_code == 200
    page = listed.content.decode()
    assert "column-payment_method" in page
    assert "?payment_method__exact=gift_certificate" in page  # a filter choice
    assert [v.pk for v in filtered.context["cl"].result_list] == [cash.pk]
    assert card.pk not in [v.pk for v in filtered.context["cl"].result_list]


def test_the_visit_page_shows_the_method(front_desk_client, record_visit, member):
    visit = record_visit(member, payment_method="gift_certificate")

    response = front_desk_client.get(
        reverse("admin:members_visit_change", args=[visit.pk])
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "field-payment_method" in page
    assert "Gift certificate" in page


def test_the_members_export_holds_the_method(record_visit, member):
    record_visit(member, payment_method="cash")
    record_visit(member)

    visits = member_export(member=member)["visits"]

    assert [v["payment_method"] for v in visits] == ["cash", ""]


def test_visit_record_checks_the_method_before_writing(member, location, service):
    before = Visit.objects.count()

    with pytest.raises(ValidationError):
        member_services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service)],
            payment_method="barter",
        )

    assert Visit.objects.count() == before
