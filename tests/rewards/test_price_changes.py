"""A price other than the service's: who may charge it, how far, and why.

Catalogue: a 60-minute massage at 3000.00. Shipped limit: 20 % up or down
without a manager's approval.
"""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse

from members import roles
from members.models import Visit, VisitLine
from members.services import VisitLineInput
from rewards.forms import token_new
from rewards.services.price_changes import PriceAuthority, price_authority_of
from tests.factories import MemberFactory
from tests.rewards.conftest import program_set, row_counts

pytestmark = pytest.mark.django_db

URL = "/admin/rewards/checkout/"


@pytest.fixture
def anna(db):
    return MemberFactory(first_name="Anna", phone="+79161234567")


def priced(service, price, reason=""):
    return [VisitLineInput(service=service, price=price, price_reason=reason)]


def refused(call) -> str:
    before = row_counts()
    with pytest.raises(ValidationError) as exc:
        call()
    assert row_counts() == before  # nothing written
    return exc.value.error_dict["lines"][0].code


# --- The rule, at the service ---------------------------------------------------


def test_the_services_price_needs_neither_right_nor_reason(checkout, anna, service):
    result = checkout(anna, lines=priced(service, "3000.00"))

    line = result.visit.lines.get()
    assert (line.price, line.list_price, line.price_reason) == (
        Decimal("3000.00"),
        Decimal("3000.00"),
        "",
    )


def test_without_the_right_no_other_price(checkout, anna, service):
    code = refused(lambda: checkout(anna, lines=priced(service, "2900", "Regular")))
    assert code == "price_change_not_allowed"


def test_another_price_needs_a_reason(checkout, anna, service):
    code = refused(
        lambda: checkout(
            anna,
            lines=priced(service, "2900", "  "),
            price_authority=PriceAuthority.LIMITED,
        )
    )
    assert code == "price_reason_required"


@pytest.mark.parametrize("price", ["2400.00", "3600.00"])  # exactly 20 % off / on
def test_within_the_limit_it_is_charged_and_kept_with_its_reason(
    checkout, anna, service, price
):
    result = checkout(
        anna,
        lines=priced(service, price, "Birthday week"),
        price_authority=PriceAuthority.LIMITED,
    )

    line = result.visit.lines.get()
    assert line.price == Decimal(price)
    assert line.list_price == Decimal("3000.00")
    assert line.price_reason == "Birthday week"
    assert result.visit.total == Decimal(price)


@pytest.mark.parametrize("price", ["2399.99", "3600.01", "100000"])
def test_beyond_the_limit_only_with_a_managers_approval(checkout, anna, service, price):
    code = refused(
        lambda: checkout(
            anna,
            lines=priced(service, price, "Typed by mistake?"),
            price_authority=PriceAuthority.LIMITED,
        )
    )
    assert code == "price_beyond_limit"

    result = checkout(
        anna,
        lines=priced(service, price, "Approved by the manager"),
        price_authority=PriceAuthority.ANY,
    )
    assert result.visit.lines.get().price == Decimal(price)


def test_the_limit_is_the_programs(checkout, anna, service):
    program_set(price_change_limit_pct=Decimal("50"))

    result = checkout(
        anna,
        lines=priced(service, "1500", "Half price day"),
        price_authority=PriceAuthority.LIMITED,
    )
    assert result.visit.total == Decimal("1500.00")


def test_a_quote_refuses_the_same_way(quote, anna, service):
    with pytest.raises(ValidationError) as exc:
        quote(
            anna,
            lines=priced(service, "100000", "x"),
            price_authority=PriceAuthority.LIMITED,
        )
    assert exc.value.error_dict["lines"][0].code == "price_beyond_limit"


def test_authority_follows_the_staff_permissions(staff_roles, django_user_model):
    def user_in(role):
        user = django_user_model.objects.create_user(f"u-{role}", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        return django_user_model.objects.get(pk=user.pk)  # fresh permission cache

    assert price_authority_of(user_in(roles.FRONT_DESK)) is PriceAuthority.NONE
    assert price_authority_of(user_in(roles.MANAGER)) is PriceAuthority.ANY
    assert price_authority_of(None) is PriceAuthority.NONE


# --- The POS API ------------------------------------------------------------------


@pytest.fixture
def pos(pos_api, location):
    return pos_api(location)


def visit_body(anna, line, external_id="b-1"):
    return {"member_id": anna.pk, "lines": [line], "external_id": external_id}


def test_a_till_charges_within_the_limit_with_a_reason(pos, anna, service):
    response = pos.post(
        "/api/v1/pos/visits",
        visit_body(
            anna,
            {"service": "classic-60", "price": "2700.00", "price_reason": "Promo"},
        ),
        format="json",
    )

    assert response.status_code == 201, response.json()
    line = VisitLine.objects.get(visit__member=anna)
    assert (line.price, line.price_reason) == (Decimal("2700.00"), "Promo")


@pytest.mark.parametrize(
    "line,code",
    [
        ({"price": "100000.00", "price_reason": "x"}, "price_beyond_limit"),
        ({"price": "2700.00"}, "price_reason_required"),
    ],
)
def test_a_till_is_refused_beyond_the_limit_or_without_a_reason(
    pos, anna, service, line, code
):
    response = pos.post(
        "/api/v1/pos/visits",
        visit_body(anna, {"service": "classic-60", **line}),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not Visit.objects.filter(member=anna).exists()


# --- The admin's checkout -------------------------------------------------------


def page_data(member, location, service, **fields):
    data = {
        "member": str(member.pk),
        "location": str(location.pk),
        "voucher_codes": "",
        "points": "",
        "note": "",
        "token": token_new(),
        "quoted_amount": "",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "30",
        "lines-0-service": str(service.pk),
        "lines-0-quantity": "1",
    }
    data.update(fields)
    return data


def record(client, data):
    quoted = client.post(URL, {**data, "quote": "1"})
    assert quoted.status_code == 200
    quote = quoted.context["quote"]
    if quote is None:
        return quoted, None
    return quoted, client.post(
        URL, {**data, "quoted_amount": str(quote.amount_to_pay), "commit": "1"}
    )


def test_the_front_desk_has_no_price_to_type(
    front_desk_client, anna, location, service
):
    page = front_desk_client.get(URL, {"member": anna.pk}).content.decode()
    assert 'name="lines-0-price"' not in page
    assert 'name="price_reason"' not in page

    # A price smuggled into the form is not read: the service's price is charged.
    _quoted, committed = record(
        front_desk_client,
        page_data(anna, location, service, **{"lines-0-price": "100000"}),
    )
    assert committed.status_code == 302
    assert Visit.objects.get(member=anna).total == Decimal("3000.00")


def test_a_manager_changes_a_price_with_a_reason_and_it_is_in_the_history(
    manager_client, anna, location, service
):
    page = manager_client.get(URL, {"member": anna.pk}).content.decode()
    assert 'name="lines-0-price"' in page
    data = page_data(
        anna,
        location,
        service,
        **{"lines-0-price": "5000.00", "price_reason": "Two therapists"},
    )

    _quoted, committed = record(manager_client, data)

    assert committed.status_code == 302
    visit = Visit.objects.get(member=anna)
    assert visit.total == Decimal("5000.00")
    assert visit.lines.get().price_reason == "Two therapists"
    entry = LogEntry.objects.get(object_id=str(visit.pk))
    assert entry.user == manager_client.user
    assert "Two therapists" in entry.get_change_message()
    page = manager_client.get(
        reverse("admin:members_visit_change", args=[visit.pk])
    ).content.decode()
    assert "Two therapists" in page, page[page.find("inline-group") :][:3000]


def test_a_manager_without_a_reason_gets_the_form_back(
    manager_client, anna, location, service
):
    quoted, committed = record(
        manager_client, page_data(anna, location, service, **{"lines-0-price": "2900"})
    )

    assert committed is None
    assert "Say why" in quoted.content.decode()
    assert not Visit.objects.filter(member=anna).exists()
