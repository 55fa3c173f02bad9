"""Specialists on the POS and at the desk's checkout.

A line's ``specialist`` (id or code) is checked by the quote and the visit
alike (400 with a stable code); the recorded visit's lines answer who it was.
"""

import json
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from members import access
from members.models import Specialist, Visit
from rewards.models import VisitReceipt
from tests.conftest import moscow, promotions_cached
from tests.factories import LocationFactory, MemberFactory
from tests.rewards.test_checkout_page import form_data, quote_and_commit

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
QUOTE = reverse("pos-quote")
VISITS = reverse("pos-visits")


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
    record_visit(member, paid_at=NOW - timedelta(days=30), amount_paid="0")
    return member


@pytest.fixture
def olga(location):
    specialist = Specialist.objects.create(name="Olga Kuznetsova", code="olga-k")
    specialist.locations.set([location])
    return specialist


def booking(member, lines, external_id="B-1") -> dict:
    return {"member_id": member.pk, "external_id": external_id, "lines": lines}


@pytest.mark.parametrize("by", ["id", "code"])
def test_a_visit_records_its_specialist(pos, regular, olga, by):
    ref = olga.pk if by == "id" else "olga-k"
    lines = [{"service": "classic-60", "specialist": ref}, {"service": "classic-60"}]

    quoted = pos.post(QUOTE, {"member_id": regular.pk, "lines": lines})
    response = pos.post(VISITS, booking(regular, lines))
    again = pos.post(VISITS, booking(regular, lines))

    assert quoted.status_code == 200, quoted.json()
    assert response.status_code == 201, response.json()
    answered = [ln["specialist"] for ln in response.json()["visit"]["lines"]]
    assert answered == [{"id": olga.pk, "name": "Olga Kuznetsova"}, None]
    visit = Visit.objects.get(external_id="B-1")
    assert [ln.specialist_id for ln in visit.lines.order_by("pk")] == [olga.pk, None]
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == response.json()


@pytest.mark.parametrize(
    ("setup", "ref", "code"),
    [
        (None, "nobody", "unknown_specialist"),
        (None, 999_999, "unknown_specialist"),
        ("inactive", "olga-k", "specialist_not_active"),
        ("elsewhere", "olga-k", "specialist_not_at_location"),
    ],
)
def test_a_bad_specialist_is_a_400(pos, regular, olga, setup, ref, code):
    if setup == "inactive":
        olga.is_active = False
        olga.save()
    elif setup == "elsewhere":
        olga.locations.set([LocationFactory()])
    lines = [{"service": "classic-60", "specialist": ref}]

    quoted = pos.post(QUOTE, {"member_id": regular.pk, "lines": lines})
    recorded = pos.post(VISITS, booking(regular, lines))

    for response in (quoted, recorded):
        assert response.status_code == 400, response.json()
        assert response.json()["code"] == code
    assert not Visit.objects.filter(external_id="B-1").exists()


def test_a_specialist_must_be_an_id_or_a_code(pos, regular):
    lines = [{"service": "classic-60", "specialist": True}]

    response = pos.post(QUOTE, {"member_id": regular.pk, "lines": lines})

    assert response.status_code == 400


def test_a_specialist_costs_one_query_more(
    pos, regular, service, olga, django_assert_num_queries
):
    access.api_key_authenticate(pos.raw_key)
    lines = [{"service": service.pk, "specialist": olga.pk}]

    # The plain visit's 14 (test_api_pos_visits) and the specialists' read.
    promotions_cached()
    with django_assert_num_queries(15):
        response = pos.post(VISITS, booking(regular, lines))
    assert response.status_code == 201


def test_an_answer_kept_before_specialists_still_replays(pos, regular):
    lines = [{"service": "classic-60"}]
    first = pos.post(VISITS, booking(regular, lines)).json()
    # An answer kept before lines had a specialist lacks the key.
    receipt = VisitReceipt.objects.get(visit__external_id="B-1")
    old = json.loads(receipt.body)
    for ln in old["visit"]["lines"]:
        del ln["specialist"]
    VisitReceipt.objects.filter(pk=receipt.pk).update(body=json.dumps(old))

    again = pos.post(VISITS, booking(regular, lines))

    assert again.status_code == 201
    assert "specialist" not in again.json()["visit"]["lines"][0]
    assert again.json()["visit"]["id"] == first["visit"]["id"]


def test_the_desk_picks_a_specialist_at_checkout(
    front_desk_client, regular, location, service, olga
):
    page = front_desk_client.get("/admin/rewards/checkout/", {"member": regular.pk})
    data = form_data(regular, location, [(service, 1)])
    data["lines-0-specialist"] = str(olga.pk)

    _quoted, committed = quote_and_commit(front_desk_client, data)

    assert "Olga Kuznetsova" in page.text
    assert committed.status_code == 302
    visit = Visit.objects.filter(member=regular).latest("pk")
    assert visit.lines.get().specialist == olga


def test_the_checkout_refuses_a_specialist_of_another_location(
    front_desk_client, regular, location, service
):
    kirill = Specialist.objects.create(name="Kirill", code="kirill")
    kirill.locations.set([LocationFactory()])
    data = form_data(regular, location, [(service, 1)])
    data["lines-0-specialist"] = str(kirill.pk)

    response = front_desk_client.post(
        "/admin/rewards/checkout/", {**data, "quote": "1"}
    )

    assert response.status_code == 200
    assert response.context["quote"] is None
    assert "does not work at" in response.text
