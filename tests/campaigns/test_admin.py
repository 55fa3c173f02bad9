"""The campaigns admin: the promotion list with its redemptions and budget (in a
fixed number of queries), the status and duplicate actions, the promotion
form's refusals, promo codes (a public one, a generated batch, the CSV
export, search as typed), the read-only redemptions, and what each staff role
may see and do.

Redemptions come from real checkouts (``checkout_commit``) and are reversed by
cancelling the visit, like in production."""

import csv
import io
from datetime import datetime
from decimal import Decimal
from decimal import Decimal as D

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from campaigns import services
from campaigns.models import PromoCode, Promotion, PromotionGroup, Redemption
from members import roles
from members.services import visit_cancel
from tests.conftest import error_codes, moscow
from tests.factories import (
    LocationFactory,
    PromoCodeFactory,
    PromotionFactory,
    PromotionGroupFactory,
    TierFactory,
)

pytestmark = pytest.mark.django_db

Status = Promotion.Status
S, M, F, A = "superuser", roles.MANAGER, roles.FRONT_DESK, roles.ANALYST
ROLES = [S, M, F, A]


def url(name: str, *args) -> str:
    return reverse(f"admin:campaigns_{name}", args=args)


@pytest.fixture
def staff(staff_roles):
    """``staff(role)`` → a logged-in client of its own."""

    def make(role: str) -> Client:
        model = get_user_model()
        name = role.lower().replace(" ", "_")
        if role == S:
            user = model.objects.create_superuser(username=name, password="x")
        else:
            user = model.objects.create_user(username=name, password="x", is_staff=True)
            user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


@pytest.fixture
def manager(staff):
    return staff(M)


def listed(response) -> list[int]:
    assert response.status_code == 200
    return [obj.pk for obj in response.context["cl"].result_list]


def shown_messages(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def act(client, model: str, action: str, objects, *, no_follow: bool = False):
    return client.post(
        url(f"{model}_changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects]},
        follow=not no_follow,
    )


# --- The list ---------------------------------------------------------------------


def test_the_list_shows_status_effect_live_redemptions_and_budget(
    manager, regular, member_as, checkout
):
    PromotionFactory(
        name="Spring", effect="percent_bill", percent=D("10"),
        budget_money=D("50000"), max_redemptions=100,
    )  # fmt: skip
    PromotionFactory(
        name="Later", status=Status.ACTIVE, starts_at=moscow(2025, 7, 1),
        effect="bonus_points", percent=None, points=200, budget_points=5000,
    )  # fmt: skip
    PromotionFactory(name="Idea", status=Status.DRAFT)
    checkout(regular)  # 10 % of 3000
    other = checkout(member_as("regular")).visit
    visit_cancel(visit=other, reason="test")  # reversed: gives the budget back

    page = manager.get(url("promotion_changelist"))

    assert page.status_code == 200
    rows = {p.name: p for p in page.context["cl"].result_list}
    assert rows["Spring"].live_redemptions == 1
    text = page.content.decode()
    assert "300\u00a0₽ of 50,000\u00a0₽" in text
    assert "1 of 100" in text
    assert "−10\u00a0%" in text
    assert "0 of 5,000 points" in text
    assert ">scheduled<" in text
    assert ">draft<" in text


def test_the_list_filters_and_searches(manager):
    spring = PromotionFactory(name="Spring sale", status=Status.PAUSED)
    PromotionFactory(name="Autumn", status=Status.ACTIVE)

    assert listed(manager.get(url("promotion_changelist"), {"q": "spring"})) == [
        spring.pk
    ]
    paused = manager.get(url("promotion_changelist"), {"status__exact": "paused"})
    assert listed(paused) == [spring.pk]


def test_the_list_reads_in_a_fixed_number_of_queries(
    manager, member_as, checkout, django_assert_max_num_queries
):
    group = PromotionGroupFactory(mode=PromotionGroup.Mode.STACK)
    for n in range(6):
        PromotionFactory(
            name=f"P{n}", group=group, effect="percent_bill", percent=D("1"),
            budget_money=D("1000"), budget_points=100,
        )  # fmt: skip
    for _ in range(3):
        checkout(member_as("regular"))
    manager.get(url("promotion_changelist"))  # warm the session and caches

    with django_assert_max_num_queries(8):
        page = manager.get(url("promotion_changelist"))

    assert len(listed(page)) == 6
    assert all(p.live_redemptions == 3 for p in page.context["cl"].result_list)


# --- Actions ------------------------------------------------------------------------


def test_pause_activate_and_end_move_the_status(manager):
    live = PromotionFactory(status=Status.ACTIVE)
    draft = PromotionFactory(status=Status.DRAFT)

    act(manager, "promotion", "pause_promotions", [live])
    live.refresh_from_db()
    assert live.status == Status.PAUSED

    act(manager, "promotion", "activate_promotions", [live, draft])
    assert set(Promotion.objects.values_list("status", flat=True)) == {Status.ACTIVE}

    page = act(manager, "promotion", "end_promotions", [live, draft])
    assert set(Promotion.objects.values_list("status", flat=True)) == {Status.ENDED}
    assert "2 promotions are now ended." in shown_messages(page)


def test_an_ended_promotion_cannot_be_activated_or_paused(manager):
    ended = PromotionFactory(name="Old", status=Status.ENDED)

    page = act(manager, "promotion", "activate_promotions", [ended])

    ended.refresh_from_db()
    assert ended.status == Status.ENDED
    assert any(m.startswith("Old: ") for m in shown_messages(page))
    with pytest.raises(Exception) as exc:
        services.promotion_status_set(promotion=ended, status=Status.PAUSED)
    assert error_codes(exc.value) == {"promotion_status_not_allowed"}


def test_duplicate_copies_the_conditions_as_a_draft(
    manager, regular, checkout, service, category, location
):
    tier = TierFactory()
    elsewhere = LocationFactory()
    original = PromotionFactory(
        name="Happy hours", status=Status.ACTIVE, services=[service],
        categories=[category], excluded_categories=[category],
        locations=[location, elsewhere], tiers=[tier], combo_categories=[category],
        weekdays="12345", budget_money=D("1000"),
    )  # fmt: skip
    PromoCodeFactory(promotion=original)
    checkout(regular)

    page = act(manager, "promotion", "duplicate_promotions", [original])

    copy = Promotion.objects.exclude(pk=original.pk).get()
    assert page.redirect_chain[-1][0] == url("promotion_change", copy.pk)
    assert (copy.name, copy.status) == ("Happy hours (copy)", Status.DRAFT)
    assert (copy.weekdays, copy.budget_money) == ("12345", D("1000.00"))
    for field in ("services", "categories", "excluded_categories", "tiers"):
        assert list(getattr(copy, field).all()) == list(getattr(original, field).all())
    assert set(copy.locations.all()) == {location, elsewhere}
    assert list(copy.combo_categories.all()) == [category]
    assert not copy.codes.exists()
    assert not Redemption.objects.filter(promotion=copy).exists()


# --- The promotion form ----------------------------------------------------------


@pytest.fixture
def group(db):
    return PromotionGroupFactory(name="Main")


def form_data(group, **fields) -> dict:
    data = {
        "name": "Test",
        "description": "",
        "group": group.pk,
        "priority": 100,
        "status": Status.DRAFT,
        "weekdays": "",
        "min_lines": 1,
        "effect": "percent_bill",
        "percent": "10",
        "percent_of": "discounted",
    }
    data.update({k: "" if v is None else v for k, v in fields.items()})
    return data


def test_a_valid_promotion_is_added(manager, group, service):
    page = manager.post(
        url("promotion_add"),
        form_data(group, services=[service.pk], weekdays="5, 6", time_from="10:00",
                  time_to="13:00"),
    )  # fmt: skip

    assert page.status_code == 302, page.context["adminform"].form.errors
    promotion = Promotion.objects.get()
    assert promotion.weekdays == "56"
    assert list(promotion.services.all()) == [service]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"effect": "percent_lines", "percent": None}, "percent"),
        ({"effect": "percent_bill", "percent": "0"}, "percent"),
        ({"effect": "fixed_bill", "percent": None}, "amount"),
        ({"effect": "bundle_price", "amount": "5000"}, "bundle_quantity"),
        ({"effect": "bundle_price", "bundle_quantity": "3"}, "amount"),
        ({"effect": "bonus_points"}, "points"),
        ({"effect": "points_multiplier"}, "multiplier"),
        ({"effect": "points_multiplier", "multiplier": "1"}, "multiplier"),
        ({"time_from": "13:00", "time_to": "13:00"}, "time_to"),
        ({"time_from": "18:00", "time_to": "10:00"}, "time_to"),
        (
            {
                "starts_at_0": "2025-07-01",
                "starts_at_1": "10:00",
                "ends_at_0": "2025-06-01",
                "ends_at_1": "10:00",
            },
            "ends_at",
        ),  # fmt: skip
        ({"weekdays": "189"}, "weekdays"),
        ({"weekdays": "mon"}, "weekdays"),
        ({"uses_per_member_period": "1"}, "period_days"),
    ],
)
def test_the_form_refuses_what_the_checkout_could_not_apply(
    manager, group, fields, field
):
    page = manager.post(url("promotion_add"), form_data(group, **fields))

    assert page.status_code == 200
    assert field in page.context["adminform"].form.errors
    assert not Promotion.objects.exists()


def test_the_form_keeps_status_moves_to_the_allowed_ones(manager, group):
    ended = PromotionFactory(group=group, status=Status.ENDED)

    page = manager.post(
        url("promotion_change", ended.pk), form_data(group, status=Status.ACTIVE)
    )

    assert page.status_code == 200
    assert "status" in page.context["adminform"].form.errors
    ended.refresh_from_db()
    assert ended.status == Status.ENDED


# --- Promo codes -----------------------------------------------------------------------


def test_a_batch_is_generated_on_the_promotion_page(manager):
    promotion = PromotionFactory(code_required=True)
    page = manager.get(url("promotion_change", promotion.pk))
    generate = url("promotion_generate_codes", promotion.pk)
    assert generate in page.content.decode()

    page = manager.post(
        generate,
        {"count": 5, "batch": "Flyers", "prefix": "spring-",
         "valid_until_0": "2025-07-01", "valid_until_1": "00:00"},
        follow=True,
    )  # fmt: skip

    codes = PromoCode.objects.filter(promotion=promotion)
    assert codes.count() == 5
    assert all(c.code.startswith("SPRING") and len(c.code) == 14 for c in codes)
    assert {(c.batch, c.max_uses, c.uses) for c in codes} == {("Flyers", 1, 0)}
    assert codes[0].valid_until == moscow(2025, 7, 1)
    assert sorted(listed(page)) == sorted(c.pk for c in codes)
    assert "5 codes made in the batch “Flyers”." in shown_messages(page)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"count": 0, "batch": "x"}, "count"),
        ({"count": 5, "batch": ""}, "batch"),
        ({"count": 5, "batch": "x", "prefix": "весна"}, "prefix"),
    ],
)
def test_a_bad_batch_is_a_form_error(manager, data, field):
    promotion = PromotionFactory()

    page = manager.post(url("promotion_generate_codes", promotion.pk), data)

    assert page.status_code == 200
    assert field in page.context["form"].errors
    assert not PromoCode.objects.exists()


def test_selected_codes_are_exported_as_csv(manager):
    promotion = PromotionFactory()
    made = services.promo_codes_generate(
        promotion=promotion, count=3, batch="SMS", valid_until=moscow(2025, 7, 1)
    )
    PromoCodeFactory(promotion=promotion, code="OTHER")

    response = act(manager, "promocode", "export_csv", made, no_follow=True)

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["code", "batch", "max_uses", "uses", "valid_until"]
    assert sorted(r[0] for r in rows[1:]) == sorted(c.code for c in made)
    assert {tuple(r[1:4]) for r in rows[1:]} == {("SMS", "1", "0")}
    assert datetime.fromisoformat(rows[1][4]) == moscow(2025, 7, 1)


def test_a_public_code_is_added_normalised(manager):
    promotion = PromotionFactory(code_required=True)

    page = manager.post(
        url("promocode_add"),
        {"promotion": promotion.pk, "code": " summer-10 ", "max_uses": ""},
    )

    assert page.status_code == 302
    code = PromoCode.objects.get()
    assert (code.code, code.max_uses, code.promotion) == ("SUMMER10", None, promotion)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("Summer 10", "promo_code_taken"),
        ("ЛЕТО", "promo_code_bad_characters"),
        ("50%OFF", "promo_code_bad_characters"),
        ("AB", "promo_code_length"),
    ],
)
def test_a_taken_or_untypable_public_code_is_refused(manager, typed, code):
    promotion = PromotionFactory()
    services.promo_code_public_create(promotion=promotion, code="SUMMER10")

    page = manager.post(
        url("promocode_add"), {"promotion": promotion.pk, "code": typed}
    )

    assert page.status_code == 200
    errors = page.context["adminform"].form.errors.as_data()["code"]
    assert [e.code for e in errors] == [code]
    assert PromoCode.objects.count() == 1


def test_codes_are_found_as_typed(staff):
    wanted = PromoCodeFactory(code="SPRING7KX2")
    PromoCodeFactory(code="SPRING9ABC")

    found = staff(F).get(url("promocode_changelist"), {"q": " spring-7kx2 "})

    assert listed(found) == [wanted.pk]


# --- Redemptions ---------------------------------------------------------------------


def test_redemptions_are_listed_read_only(manager, regular, checkout):
    promotion = PromotionFactory(name="Ten")
    visit = checkout(regular).visit
    redemption = Redemption.objects.get()

    page = manager.get(
        url("redemption_changelist"), {"promotion__id__exact": promotion.pk}
    )

    assert listed(page) == [redemption.pk]
    assert f"#{visit.pk}" in page.content.decode()
    assert manager.get(url("redemption_change", redemption.pk)).status_code == 200
    assert manager.post(url("redemption_change", redemption.pk), {}).status_code == 403


# --- Roles ------------------------------------------------------------------------


def pages(promotion, code, redemption) -> list[tuple[str, str, dict]]:
    everyone = dict.fromkeys(ROLES, 200)
    no_desk = {S: 200, M: 200, F: 403, A: 200}
    editors = {S: 200, M: 200, F: 403, A: 403}
    nobody = dict.fromkeys(ROLES, 403)
    return [
        ("app", reverse("admin:app_list", args=["campaigns"]), everyone),
        ("promotions", url("promotion_changelist"), everyone),
        ("promotion", url("promotion_change", promotion.pk), everyone),
        ("promotion add", url("promotion_add"), editors),
        (
            "promotion delete",
            url("promotion_delete", promotion.pk),
            {S: 200, M: 403, F: 403, A: 403},
        ),
        ("generate", url("promotion_generate_codes", promotion.pk), editors),
        ("groups", url("promotiongroup_changelist"), no_desk),
        ("group add", url("promotiongroup_add"), editors),
        ("codes", url("promocode_changelist"), everyone),
        ("code", url("promocode_change", code.pk), everyone),
        ("code add", url("promocode_add"), editors),
        ("code delete", url("promocode_delete", code.pk), nobody),
        ("redemptions", url("redemption_changelist"), no_desk),
        ("redemption", url("redemption_change", redemption.pk), no_desk),
        ("redemption add", url("redemption_add"), nobody),
        ("redemption delete", url("redemption_delete", redemption.pk), nobody),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role_as_its_permissions_say(
    staff, regular, checkout, role
):
    promotion = PromotionFactory()
    code = PromoCodeFactory(promotion=promotion)
    checkout(regular)
    client = staff(role)
    got, want = {}, {}
    for label, address, expected in pages(promotion, code, Redemption.objects.get()):
        got[label] = client.get(address).status_code
        want[label] = expected[role]

    assert got == want


@pytest.mark.parametrize("role", [F, A])
def test_the_desk_and_the_analyst_change_nothing(staff, group, role):
    promotion = PromotionFactory(group=group, name="Ten", status=Status.ACTIVE)
    client = staff(role)

    edit = client.post(url("promotion_change", promotion.pk), form_data(group))
    pause = act(client, "promotion", "pause_promotions", [promotion], no_follow=True)

    assert edit.status_code == 403
    assert pause.status_code in (200, 302)
    promotion.refresh_from_db()
    assert (promotion.name, promotion.status) == ("Ten", Status.ACTIVE)
    assert client.get(url("promotion_changelist")).context["action_form"] is None


# --- The live preview ------------------------------------------------------------


def test_the_preview_prices_a_draft_for_a_member_and_says_why(
    admin_client, location, service
):
    from campaigns.models import Promotion, PromotionGroup
    from tests.factories import MemberFactory

    member = MemberFactory(phone="+79161112233")
    group = PromotionGroup.objects.create(name="Preview group")
    draft = Promotion.objects.create(
        name="Draft ten", group=group, status="draft", effect="percent_bill",
        percent=Decimal("10"),
    )  # fmt: skip
    url = reverse("admin:campaigns_promotion_preview", args=[draft.pk])

    page = admin_client.get(
        url,
        {
            "member": "8 916 111-22-33",
            "location": location.pk,
            "services": [service.pk],
        },
    )

    assert page.status_code == 200
    text = page.content.decode()
    assert "This promotion applies" in text
    assert "Draft ten" in text
    draft.refresh_from_db()
    assert draft.status == "draft"  # nothing changed
    assert not Promotion.objects.filter(status="active").exists()

    draft.min_bill = Decimal("100000")
    draft.save()
    page = admin_client.get(
        url,
        {"member": str(member.pk), "location": location.pk, "services": [service.pk]},
    )
    assert "This promotion does not apply" in page.content.decode()
    assert "From a bill of" in page.content.decode()


def test_the_preview_refuses_an_unknown_member_with_a_form_error(
    admin_client, location, service
):
    from campaigns.models import Promotion, PromotionGroup

    group = PromotionGroup.objects.create(name="Preview group")
    draft = Promotion.objects.create(
        name="Draft", group=group, effect="percent_bill", percent=Decimal("10")
    )
    page = admin_client.get(
        reverse("admin:campaigns_promotion_preview", args=[draft.pk]),
        {"member": "+79990000000", "location": location.pk, "services": [service.pk]},
    )
    assert page.status_code == 200
    assert "No member with this phone, card or number." in page.content.decode()
