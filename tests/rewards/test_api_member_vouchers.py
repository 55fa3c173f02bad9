"""GET me/vouchers, GET me/vouchers/{id}, POST me/vouchers/{id}/cancel: the
member's own vouchers only; another member's are answered like unknown ones."""

from datetime import timedelta

import pytest
import time_machine

from rewards.models import LedgerEntry, Voucher
from rewards.services import reward_redeem, voucher_cancel, voucher_issue
from rewards.services.vouchers import voucher_mark_used, vouchers_expire
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import balances, give_points, state_of

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api(member, member_api):
    return member_api(member)


_keys = iter(range(1, 10_000))


def bought(member, *, cost=100, **reward_fields) -> Voucher:
    """A voucher the member bought with points (given them first)."""
    give_points(member, cost or 1)
    reward = RewardFactory(points_cost=cost, **reward_fields)
    return reward_redeem(
        member=member, reward=reward, idempotency_key=f"test-{next(_keys)}"
    )


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [v["id"] for v in response.json()["results"]]


@pytest.fixture
def mixed(member):
    """One voucher in each state the member can see."""
    active = bought(member)
    used = bought(member, partner=True)
    voucher_mark_used(voucher=used)
    cancelled = voucher_cancel(voucher=bought(member))
    with time_machine.travel(NOW - timedelta(days=40), tick=False):
        expired = bought(member, voucher_valid_days=10)
        lapsed = bought(member, voucher_valid_days=35)  # past its date, not marked
    vouchers_expire(at=NOW - timedelta(days=20))
    return {
        "active": active,
        "used": used,
        "cancelled": cancelled,
        "expired": expired,
        "lapsed": lapsed,
    }


# --- GET me/vouchers -------------------------------------------------------


def test_my_vouchers_newest_first(api, member, mixed):
    MemberFactory()  # and someone else's voucher
    bought(MemberFactory())

    response = api.get("/api/v1/me/vouchers")

    assert ids(response) == [
        mixed["cancelled"].pk,
        mixed["used"].pk,
        mixed["active"].pk,
        mixed["lapsed"].pk,
        mixed["expired"].pk,
    ]
    row = response.json()["results"][2]
    assert set(row) == {
        "id",
        "code",
        "status",
        "source",
        "reward",
        "points_cost",
        "issued_at",
        "valid_until",
        "used_at",
        "closed_at",
    }
    assert "qr_svg" not in row


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("active", ["active"]),
        ("used", ["used"]),
        ("cancelled", ["cancelled"]),
        # Past its date is expired for the member before the nightly job runs
        ("expired", ["lapsed", "expired"]),
    ],
)
def test_vouchers_filtered_by_the_status_the_member_sees(api, mixed, wanted, expected):
    response = api.get(f"/api/v1/me/vouchers?status={wanted}")

    assert ids(response) == [mixed[name].pk for name in expected]
    assert {v["status"] for v in response.json()["results"]} == {wanted}


def test_an_unknown_status_filter_is_a_400(api):
    response = api.get("/api/v1/me/vouchers?status=lost")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"]["status"][0]["code"] == "invalid_choice"


def test_vouchers_are_paginated(api, member):
    for _ in range(3):
        bought(member)

    body = api.get("/api/v1/me/vouchers?page_size=2").json()

    assert (body["count"], len(body["results"])) == (3, 2)
    assert body["next"]


@pytest.mark.parametrize("vouchers", [1, 25])
def test_the_voucher_list_costs_four_queries(
    api, member, django_assert_num_queries, vouchers
):
    for _ in range(vouchers):
        bought(member)
    assert api.get("/api/v1/me/vouchers").status_code == 200

    # The stamps (the token is cached), the member, the count, the page with
    # its rewards
    with django_assert_num_queries(4):
        body = api.get("/api/v1/me/vouchers?page_size=50&status=active").json()

    assert len(body["results"]) == vouchers


# --- GET me/vouchers/{id} ----------------------------------------------------


def test_a_voucher_with_its_qr_code(api, member):
    voucher = bought(member, name="Hot stones", cost=300)

    response = api.get(f"/api/v1/me/vouchers/{voucher.pk}")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["code"], body["status"]) == (
        voucher.pk,
        voucher.code,
        "active",
    )
    assert body["reward"]["name"] == "Hot stones"
    assert body["points_cost"] == 300
    assert body["issued_at"].startswith("2025-06-10T15:00:00")
    assert body["valid_until"].startswith("2025-07-10T15:00:00")
    assert body["qr_svg"].startswith("<svg") and body["qr_svg"].endswith("</svg>")


def test_a_gift_voucher_shows_its_source(api, member):
    gift = voucher_issue(
        member=member, reward=RewardFactory(), key="gift-1", source="manual"
    )

    body = api.get(f"/api/v1/me/vouchers/{gift.pk}").json()

    assert (body["source"], body["points_cost"]) == ("manual", 0)


# --- Another member's voucher: 404 everywhere, nothing changes ----------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("post", "/cancel")],
)
def test_another_members_voucher_is_not_found(api, member, method, path):
    other = MemberFactory()
    theirs = bought(other)
    before = state_of(other)

    response = getattr(api, method)(f"/api/v1/me/vouchers/{theirs.pk}{path}")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No such voucher."}
    assert state_of(other) == before
    assert Voucher.objects.get(pk=theirs.pk).status == "active"


def test_another_members_voucher_is_not_in_my_list(api, member):
    bought(MemberFactory())

    assert ids(api.get("/api/v1/me/vouchers")) == []


@pytest.mark.parametrize("path", ["", "/cancel"])
def test_an_unknown_voucher_is_not_found(api, path):
    method = api.post if path else api.get

    response = method(f"/api/v1/me/vouchers/424242{path}")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("get", "/{id}"), ("post", "/{id}/cancel")],
)
def test_vouchers_need_a_member_token(api_client, member, method, path):
    voucher = bought(member)
    url = "/api/v1/me/vouchers" + path.format(id=voucher.pk)

    anonymous = getattr(api_client, method)(url)
    api_client.credentials(HTTP_AUTHORIZATION="Bearer rgm_forged")
    forged = getattr(api_client, method)(url)

    assert (anonymous.status_code, anonymous.json()["code"]) == (
        401,
        "not_authenticated",
    )
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_token")
    assert Voucher.objects.get(pk=voucher.pk).status == "active"


# --- POST me/vouchers/{id}/cancel ------------------------------------------------


def test_cancelling_an_unused_voucher_gives_the_points_back(api, member):
    voucher = bought(member, cost=300, name="Hot stones")
    assert balances(member) == (0, 0, 0)

    response = api.post(f"/api/v1/me/vouchers/{voucher.pk}/cancel")

    assert response.status_code == 200
    body = response.json()["voucher"]
    assert (body["id"], body["status"]) == (voucher.pk, "cancelled")
    assert body["closed_at"].startswith("2025-06-10T15:00:00")
    assert balances(member) == (300, 0, 0)
    back = LedgerEntry.objects.filter(member=member).order_by("-seq").first()
    assert (back.kind, back.amount, back.reason) == ("reverse", 300, "return_voucher")


def test_the_return_shows_in_the_history_explained(api, member):
    voucher = bought(member, cost=300)
    api.post(f"/api/v1/me/vouchers/{voucher.pk}/cancel")

    latest = api.get("/api/v1/me/transactions").json()["results"][0]

    assert latest["explanation"] == (
        f"300 points back: voucher {voucher.code} cancelled"
    )


def test_cancelling_twice_gives_the_points_back_once(api, member):
    voucher = bought(member, cost=300)
    api.post(f"/api/v1/me/vouchers/{voucher.pk}/cancel")

    again = api.post(f"/api/v1/me/vouchers/{voucher.pk}/cancel")

    assert again.status_code == 200
    assert again.json()["voucher"]["status"] == "cancelled"
    assert balances(member) == (300, 0, 0)
    assert LedgerEntry.objects.filter(member=member, kind="reverse").count() == 1


@pytest.mark.parametrize("state", ["used", "expired", "lapsed"])
def test_a_used_or_expired_voucher_cannot_be_cancelled(api, member, mixed, state):
    voucher = mixed[state]
    before = state_of(member)

    response = api.post(f"/api/v1/me/vouchers/{voucher.pk}/cancel")

    assert response.status_code == 400
    assert response.json()["code"] == "voucher_not_active"
    assert state_of(member) == before


def test_a_cancel_refusal_reads_in_the_requests_language(api, member, mixed):
    response = api.post(
        f"/api/v1/me/vouchers/{mixed['used'].pk}/cancel", HTTP_ACCEPT_LANGUAGE="ru"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "voucher_not_active"
    assert response["Content-Language"] == "ru"
