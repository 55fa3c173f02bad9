"""The rewards admin: every page for a superuser and each staff role, the
read-only ledger, vouchers and their cancel action, the member page's rewards
panels and the manager's "Adjust points" and "Set tier" pages."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from members.models import Member
from rewards.admin.members import tier_progress_text
from rewards.forms import token_new
from rewards.models import (
    ExpiryNotice,
    JobRun,
    LedgerEntry,
    ProgramSettings,
    Reward,
    TierChange,
    Voucher,
)
from rewards.selectors import tier_progress
from rewards.services import reward_redeem
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import (
    balances,
    give_points,
    program_set,
    state_of,
    tier,
    tier_set,
)

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def anna(record_visit):
    """A member with history: two paid visits, bonus points, a voucher bought."""
    anna = MemberFactory(first_name="Anna", last_name="Smirnova", phone="+79161234567")
    record_visit(anna, paid_at=NOW - timedelta(days=40))
    record_visit(anna, paid_at=NOW - timedelta(days=10))
    give_points(anna, 500, lifetime_days=7)
    return anna


@pytest.fixture
def voucher(anna):
    reward = RewardFactory(name="10% off", points_cost=100)
    return reward_redeem(member=anna, reward=reward, idempotency_key="test-1")


@pytest.fixture
def records(anna, voucher):
    """One row of each read-only record, for the lists to render."""
    JobRun.objects.create(
        job="expire_lots",
        business_date=date(2025, 6, 10),
        status=JobRun.Status.DONE,
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=3),
        result={"lots": 12},
    )
    ExpiryNotice.objects.create(member=anna, expires_on=date(2025, 6, 17), points=500)
    return {
        "member": anna,
        "voucher": voucher,
        "entry": LedgerEntry.objects.filter(member=anna).first(),
        "tier_change": TierChange.objects.filter(member=anna).first(),
        "reward": voucher.reward,
    }


# --- Every page, every role --------------------------------------------------

S, M, F, A = "superuser", "manager", "front desk", "analyst"
ROLES = [S, M, F, A]


def pages(r) -> list[tuple[str, str, dict]]:
    """(label, url, expected status per role)."""
    ok = dict.fromkeys(ROLES, 200)
    staff_only = {S: 200, M: 200, F: 403, A: 200}
    editors = {S: 200, M: 200, F: 403, A: 403}
    nobody = dict.fromkeys(ROLES, 403)
    member, voucher = r["member"], r["voucher"]

    def url(name, *args):
        return reverse(f"admin:{name}", args=args)

    return [
        ("index", url("index"), ok),
        ("rewards app", url("app_list", "rewards"), ok),
        (
            "settings list",
            url("rewards_programsettings_changelist"),
            {S: 302, M: 302, F: 403, A: 302},
        ),
        ("settings", url("rewards_programsettings_change", 1), staff_only),
        ("settings add", url("rewards_programsettings_add"), nobody),
        ("settings delete", url("rewards_programsettings_delete", 1), nobody),
        ("earn rates", url("rewards_categoryearnrate_changelist"), staff_only),
        ("earn rate add", url("rewards_categoryearnrate_add"), editors),
        ("tiers", url("rewards_tier_changelist"), ok),
        ("tier", url("rewards_tier_change", tier("gold").pk), ok),
        ("tier add", url("rewards_tier_add"), editors),
        ("rewards", url("rewards_reward_changelist"), ok),
        ("reward", url("rewards_reward_change", r["reward"].pk), ok),
        ("reward add", url("rewards_reward_add"), editors),
        ("vouchers", url("rewards_voucher_changelist"), ok),
        ("voucher", url("rewards_voucher_change", voucher.pk), ok),
        ("voucher add", url("rewards_voucher_add"), nobody),
        ("ledger", url("rewards_ledgerentry_changelist"), ok),
        ("entry", url("rewards_ledgerentry_change", r["entry"].pk), ok),
        ("entry add", url("rewards_ledgerentry_add"), nobody),
        ("entry delete", url("rewards_ledgerentry_delete", r["entry"].pk), nobody),
        ("wallets", url("rewards_wallet_changelist"), ok),
        ("wallet", url("rewards_wallet_change", member.pk), ok),
        ("tier history", url("rewards_tierchange_changelist"), ok),
        ("tier change", url("rewards_tierchange_change", r["tier_change"].pk), ok),
        ("job runs", url("rewards_jobrun_changelist"), staff_only),
        ("expiry notices", url("rewards_expirynotice_changelist"), staff_only),
        ("member list", url("members_member_changelist"), ok),
        ("member", url("members_member_change", member.pk), ok),
        ("adjust points", url("members_member_adjust_points", member.pk), editors),
        ("set tier", url("members_member_set_tier", member.pk), editors),
        ("checkout", url("rewards_checkout"), {S: 200, M: 200, F: 200, A: 403}),
    ]


@pytest.fixture(params=ROLES)
def role_client(request):
    if request.param == S:
        client = request.getfixturevalue("admin_client")
        client.user = request.getfixturevalue("admin_user")
    else:
        fixture = {M: "manager_client", F: "front_desk_client", A: "analyst_client"}
        client = request.getfixturevalue(fixture[request.param])
    client.role = request.param
    return client


def test_every_page_answers_each_role_as_its_permissions_say(role_client, records):
    got, want = {}, {}
    for label, url, expected in pages(records):
        got[label] = role_client.get(url).status_code
        want[label] = expected[role_client.role]

    assert got == want


def test_checkout_is_listed_in_the_rewards_section_for_who_may_use_it(
    role_client, records
):
    response = role_client.get(reverse("admin:index"))

    listed = reverse("admin:rewards_checkout") in response.content.decode()
    assert listed == (role_client.role != A)


# --- Program settings, tiers, catalogue ----------------------------------------


def test_settings_list_goes_straight_to_the_one_row(admin_client):
    response = admin_client.get(reverse("admin:rewards_programsettings_changelist"))

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:rewards_programsettings_change", args=[1]
    )


def test_manager_edits_the_settings(manager_client):
    url = reverse("admin:rewards_programsettings_change", args=[1])
    form = manager_client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(max_points_share="25", earn_mode="cashback")

    response = manager_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    row = ProgramSettings.objects.get()
    assert (row.max_points_share, row.earn_mode) == (Decimal("25"), "cashback")


def test_tier_editor_lists_tiers_by_rank(admin_client):
    response = admin_client.get(reverse("admin:rewards_tier_changelist"))

    shown = [t.code for t in response.context["cl"].result_list]
    assert shown == ["base", "silver", "gold", "platinum"]


def test_reward_form_refuses_a_free_service_without_its_service(manager_client):
    response = manager_client.post(
        reverse("admin:rewards_reward_add"),
        {
            "name": "Free massage",
            "kind": "free_service",
            "points_cost": "900",
            "voucher_valid_days": "30",
            "sort_order": "0",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Reward.objects.filter(name="Free massage").exists()


# --- The ledger is read-only ---------------------------------------------------


def test_ledger_refuses_change_and_delete(admin_client, anna):
    entry = LedgerEntry.objects.filter(member=anna).first()
    before = list(LedgerEntry.objects.values_list("id", "amount", "note"))

    change = admin_client.post(
        reverse("admin:rewards_ledgerentry_change", args=[entry.pk]),
        {"amount": "999999", "note": "edited"},
    )
    delete = admin_client.post(
        reverse("admin:rewards_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    listing = admin_client.get(reverse("admin:rewards_ledgerentry_changelist"))

    assert (change.status_code, delete.status_code) == (403, 403)
    assert listing.context["action_form"] is None  # no "delete selected"
    assert list(LedgerEntry.objects.values_list("id", "amount", "note")) == before


def test_ledger_list_explains_entries_and_finds_members_by_phone(admin_client, anna):
    other = MemberFactory()
    give_points(other, 70)

    response = admin_client.get(
        reverse("admin:rewards_ledgerentry_changelist"), {"q": "8 (916) 123-45-67"}
    )

    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert {e.member_id for e in rows} == {anna.pk}
    assert "500 points bonus" in response.content.decode()


def test_ledger_filtered_to_a_member_is_titled_with_their_name(admin_client, anna):
    response = admin_client.get(
        reverse("admin:rewards_ledgerentry_changelist"),
        {"member__id__exact": anna.pk, "kind__exact": "bonus"},
    )

    assert [e.amount for e in response.context["cl"].result_list] == [500]
    assert "Anna Smirnova" in response.context["title"]


def test_wallet_list_shows_the_points_liability(admin_client, anna):
    response = admin_client.get(reverse("admin:rewards_wallet_changelist"))

    liability = response.context["liability"]
    assert liability.points == balances(anna)[0]
    assert "Outstanding" in response.content.decode()


# --- Vouchers ------------------------------------------------------------------


@pytest.mark.parametrize("query", ["code", "phone", "name"])
def test_voucher_search(admin_client, voucher, query):
    MemberFactory()  # someone else, with no voucher
    term = {
        "code": voucher.code.lower()[:5] + " " + voucher.code.lower()[5:],
        "phone": "+7 916 123 45 67",
        "name": "Smirnova",
    }[query]

    response = admin_client.get(
        reverse("admin:rewards_voucher_changelist"), {"q": term}
    )

    assert [v.pk for v in response.context["cl"].result_list] == [voucher.pk]


def test_voucher_page_shows_its_qr_code_and_cancel_button(front_desk_client, voucher):
    response = front_desk_client.get(
        reverse("admin:rewards_voucher_change", args=[voucher.pk])
    )

    page = response.content.decode()
    assert '<svg width="' in page and 'class="segno"' in page
    assert "Cancel and refund points" in page


def cancel_post(client, vouchers, **extra):
    return client.post(
        reverse("admin:rewards_voucher_changelist"),
        {
            "action": "cancel_vouchers",
            ACTION_CHECKBOX_NAME: [str(v.pk) for v in vouchers],
            **extra,
        },
    )


def test_cancel_action_confirms_then_refunds_the_points(front_desk_client, voucher):
    member = voucher.member
    before = balances(member)[0]

    confirm = cancel_post(front_desk_client, [voucher])
    assert confirm.status_code == 200
    assert confirm.context["refund"] == 100
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ACTIVE

    done = cancel_post(front_desk_client, [voucher], apply="1")

    assert done.status_code == 302
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.CANCELLED
    assert balances(member)[0] == before + 100
    shown = [(m.level, str(m)) for m in done.wsgi_request._messages]
    assert (messages.SUCCESS, "1 voucher cancelled, 100 points refunded.") in shown


def test_cancel_action_reports_a_used_voucher(admin_client, voucher):
    Voucher.objects.filter(pk=voucher.pk).update(status=Voucher.Status.USED)
    before = state_of(voucher.member)

    response = cancel_post(admin_client, [voucher], apply="1")

    assert response.status_code == 302
    errors = [str(m) for m in response.wsgi_request._messages if m.level == 40]
    assert errors and voucher.code in errors[0]
    assert state_of(voucher.member) == before


def test_mark_used_hands_over_a_gift_and_refuses_a_discount(front_desk_client, voucher):
    gift = reward_redeem(
        member=voucher.member,
        reward=RewardFactory(partner=True, points_cost=0),
        idempotency_key="gift",
    )

    response = front_desk_client.post(
        reverse("admin:rewards_voucher_changelist"),
        {"action": "mark_used", ACTION_CHECKBOX_NAME: [str(gift.pk), str(voucher.pk)]},
    )

    assert response.status_code == 302
    gift.refresh_from_db()
    voucher.refresh_from_db()
    assert gift.status == Voucher.Status.USED
    assert voucher.status == Voucher.Status.ACTIVE  # a discount: for the checkout
    shown = [str(m) for m in response.wsgi_request._messages]
    assert "1 voucher marked used." in shown
    assert any("apply it at checkout" in m for m in shown)


def test_analyst_cannot_cancel_vouchers(analyst_client, voucher):
    before = state_of(voucher.member)

    listing = analyst_client.get(reverse("admin:rewards_voucher_changelist"))
    response = cancel_post(analyst_client, [voucher], apply="1")

    assert listing.context["action_form"] is None
    assert response.status_code in (200, 302, 403)  # the list again, or refused
    assert state_of(voucher.member) == before


# --- The member page -----------------------------------------------------------


def test_member_page_shows_wallet_tier_ledger_lots_and_vouchers(
    front_desk_client, anna, voucher
):
    response = front_desk_client.get(
        reverse("admin:members_member_change", args=[anna.pk])
    )

    assert response.status_code == 200
    panel = response.context["rewards"]
    available, pending, debt = balances(anna)
    assert panel["summary"].available == available
    # The 7-day bonus lot, less the 100 the voucher took from it (soonest first)
    assert panel["summary"].expiring_soon == 400
    assert panel["tier"].code == "base"
    assert panel["progress_text"] == "3 visits or 14,000\u00a0₽ to Silver"
    page = response.content.decode()
    assert "3 visits or 14,000" in page
    assert "500 points bonus" in page  # explanation from rewards.explain
    assert voucher.code in page
    assert (
        reverse("admin:rewards_ledgerentry_changelist")
        + f"?member__id__exact={anna.pk}"
        in page
    )
    assert reverse("admin:rewards_checkout") + f"?member={anna.pk}" in page
    # The front desk does not get the manager's buttons
    assert reverse("admin:members_member_adjust_points", args=[anna.pk]) not in page


def test_member_page_for_a_manager_links_the_adjust_and_tier_pages(
    manager_client, anna
):
    page = manager_client.get(
        reverse("admin:members_member_change", args=[anna.pk])
    ).content.decode()

    assert reverse("admin:members_member_adjust_points", args=[anna.pk]) in page
    assert reverse("admin:members_member_set_tier", args=[anna.pk]) in page


def test_member_page_of_a_member_without_a_wallet(admin_client):
    newcomer = MemberFactory()

    response = admin_client.get(
        reverse("admin:members_member_change", args=[newcomer.pk])
    )

    assert response.status_code == 200
    assert response.context["rewards"]["summary"].available == 0


def test_member_list_links_each_active_member_to_the_checkout(admin_client, anna):
    response = admin_client.get(reverse("admin:members_member_changelist"))

    assert reverse("admin:rewards_checkout") + f"?member={anna.pk}" in (
        response.content.decode()
    )


@pytest.mark.parametrize(
    ("visits", "spend", "text"),
    [
        (0, Decimal("0"), "5 visits or 20,000\u00a0₽ to Silver"),
        (4, Decimal("19999.50"), "1 visit or 0.50\u00a0₽ to Silver"),
        (5, Decimal("100"), "Qualifies for Silver: moves up at the next visit"),
    ],
)
def test_tier_progress_text(visits, spend, text):
    member = MemberFactory()
    progress = tier_progress(member=member)
    progress = type(progress)(
        progress.tier,
        progress.next_tier,
        type(progress.stats)(visits=visits, spend=spend),
        max(progress.next_tier.min_visits - visits, 0),
        max(progress.next_tier.min_spend - spend, 0),
    )

    assert tier_progress_text(progress) == text


# --- Adjust points ---------------------------------------------------------------


def adjust_url(member):
    return reverse("admin:members_member_adjust_points", args=[member.pk])


def test_adjusting_points(manager_client, anna):
    before = balances(anna)[0]
    page = manager_client.get(adjust_url(anna))
    token = page.context["form"].initial["token"]

    response = manager_client.post(
        adjust_url(anna),
        {"points": "150", "reason": "Sorry for the wait", "token": token},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:members_member_change", args=[anna.pk]
    )
    assert balances(anna)[0] == before + 150
    entry = LedgerEntry.objects.filter(member=anna).order_by("-seq").first()
    assert (entry.kind, entry.amount, entry.note) == (
        "adjust",
        150,
        "Sorry for the wait",
    )
    assert entry.actor == manager_client.user


def test_adjusting_twice_with_the_same_form_adjusts_once(manager_client, anna):
    before = balances(anna)[0]
    data = {"points": "-50", "reason": "Duplicate bonus", "token": token_new()}

    first = manager_client.post(adjust_url(anna), data)
    second = manager_client.post(adjust_url(anna), data)

    assert (first.status_code, second.status_code) == (302, 302)
    assert balances(anna)[0] == before - 50


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"points": "100", "reason": ""}, "reason"),
        ({"points": "100", "reason": "   "}, "reason"),
        ({"points": "-100000", "reason": "Too much"}, "points"),  # overdraw
        ({"points": "0", "reason": "Nothing"}, "points"),
        ({"points": "abc", "reason": "Garbage"}, "points"),
        ({"points": "99999999999999", "reason": "Huge"}, "points"),
        ({"points": "10", "reason": "Bad token", "token": "../etc"}, "token"),
    ],
)
def test_adjusting_points_with_bad_input_changes_nothing(
    manager_client, anna, data, field
):
    before = state_of(anna)
    data = {"token": token_new(), **data}

    response = manager_client.post(adjust_url(anna), data)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert 'class="errorlist' in response.content.decode()
    assert state_of(anna) == before


def test_front_desk_cannot_adjust_points(front_desk_client, anna):
    before = state_of(anna)

    response = front_desk_client.post(
        adjust_url(anna), {"points": "100", "reason": "Friend", "token": token_new()}
    )

    assert response.status_code == 403
    assert state_of(anna) == before


# --- Set tier ------------------------------------------------------------------------


def tier_url(member):
    return reverse("admin:members_member_set_tier", args=[member.pk])


def test_setting_a_tier(manager_client, anna):
    gold = tier("gold")

    response = manager_client.post(
        tier_url(anna),
        {"tier": gold.pk, "until": "2025-12-31", "reason": "Friend of the owner"},
    )

    assert response.status_code == 302
    anna.wallet.refresh_from_db()
    assert (anna.wallet.tier, anna.wallet.tier_override_until) == (
        gold,
        date(2025, 12, 31),
    )
    change = TierChange.objects.filter(member=anna).first()
    assert (change.reason, change.note, change.actor) == (
        "override",
        "Friend of the owner",
        manager_client.user,
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"until": "2025-01-01", "reason": "Late"}, "until"),  # in the past
        ({"until": "2025-12-31", "reason": ""}, "reason"),
        ({"until": "not a date", "reason": "x"}, "until"),
    ],
)
def test_setting_a_tier_with_bad_input_changes_nothing(
    manager_client, anna, data, field
):
    tier_set(anna, "silver")
    before = state_of(anna)

    response = manager_client.post(tier_url(anna), {"tier": tier("gold").pk, **data})

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert state_of(anna) == before


def test_program_settings_shape_the_member_page(admin_client, anna):
    program_set(expiry_warning_days=3)

    response = admin_client.get(reverse("admin:members_member_change", args=[anna.pk]))

    assert response.context["rewards"]["summary"].expiring_soon == 0


def test_blocked_member_page_offers_no_checkout(admin_client, anna):
    Member.objects.filter(pk=anna.pk).update(status=Member.Status.BLOCKED)

    response = admin_client.get(reverse("admin:members_member_change", args=[anna.pk]))

    assert response.context["rewards"]["can_checkout"] is False
