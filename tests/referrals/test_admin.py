"""The referrals admin: every page for each staff role, the referral list's
filters and search, the review queue's approve/reject actions with their
intermediate page, the program's settings page, the per-referrer summary, and a
client signed up with a friend's code on the member add form.

Everything is made through the services (``member_register`` with a code,
visits through ``visit_record``), like in production."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from members import access, roles
from members import services as member_services
from members.models import Member
from referrals import services
from referrals.models import Referral, ReferralEvent, ReferralProgram
from rewards.models import LedgerEntry
from tests.conftest import moscow

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
Status = Referral.Status

_phones = itertools.count(1)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


# --- Given: a referrer, friends, staff ------------------------------------------


def enrol(first_name: str, last_name: str = "", **kwargs) -> Member:
    """A member enrolled through the service (phone history kept)."""
    return member_services.member_register(
        phone=f"+7903{next(_phones):07d}",
        first_name=first_name,
        last_name=last_name,
        **kwargs,
    )


def code_of(member: Member) -> str:
    return services.referral_code_for(member=member).code


def join(referrer: Member, first_name: str, last_name: str = "", **kwargs) -> Member:
    """A friend signing up in the app with ``referrer``'s code."""
    kwargs.setdefault("channel", "app")
    return enrol(first_name, last_name, referral_code=code_of(referrer), **kwargs)


def referral_of(friend: Member) -> Referral:
    return Referral.objects.get(referee=friend)


def held_friend(referrer: Member, first_name: str = "Pavel", **kwargs) -> Member:
    """A friend signing up from a device the referrer signed in with: held."""
    access.token_issue(member=referrer, device_id="anna-phone", ip="10.1.1.1")
    friend = join(
        referrer, first_name, "Orlov", device_id="anna-phone", ip="10.1.1.1", **kwargs
    )
    assert referral_of(friend).status == Status.HELD
    return friend


@pytest.fixture
def anna(db):
    return enrol("Anna", "Smirnova")


@pytest.fixture
def boris(anna):
    """Anna's friend, registered, no visit yet."""
    return join(anna, "Boris", "Kuznetsov")


@pytest.fixture
def pavel(anna):
    """Anna's friend held for review: same device and IP as Anna."""
    return held_friend(anna)


S, M, F, A = "superuser", roles.MANAGER, roles.FRONT_DESK, roles.ANALYST
ROLES = [S, M, F, A]


@pytest.fixture
def staff(staff_roles):
    """``staff(role)`` → a logged-in client of its own (several per test)."""

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
    return staff(roles.MANAGER)


def listed(response) -> list[int]:
    assert response.status_code == 200
    return [obj.pk for obj in response.context["cl"].result_list]


def shown_messages(response) -> list[tuple[int, str]]:
    return [(m.level, str(m)) for m in response.wsgi_request._messages]


# --- Every page, every role ---------------------------------------------------


def pages(referral: Referral) -> list[tuple[str, str, dict]]:
    everyone = dict.fromkeys(ROLES, 200)
    no_desk = {S: 200, M: 200, F: 403, A: 200}
    nobody = dict.fromkeys(ROLES, 403)

    def url(name, *args):
        return reverse(f"admin:referrals_{name}", args=args)

    pk, member = referral.pk, referral.referrer_id
    return [
        ("app", reverse("admin:app_list", args=["referrals"]), everyone),
        (
            "program list",
            url("referralprogram_changelist"),
            {S: 302, M: 302, F: 403, A: 302},
        ),
        ("program", url("referralprogram_change", 1), no_desk),
        ("program add", url("referralprogram_add"), nobody),
        ("program delete", url("referralprogram_delete", 1), nobody),
        ("referrals", url("referral_changelist"), everyone),
        ("referral", url("referral_change", pk), everyone),
        ("referral add", url("referral_add"), nobody),
        ("referral delete", url("referral_delete", pk), nobody),
        ("queue", url("heldreferral_changelist"), no_desk),
        ("held", url("heldreferral_change", pk), no_desk),
        ("held add", url("heldreferral_add"), nobody),
        ("referrers", url("referrer_changelist"), no_desk),
        ("referrer", url("referrer_change", member), {S: 302, M: 302, F: 403, A: 302}),
        ("codes", url("referralcode_changelist"), everyone),
        ("code", url("referralcode_change", member), everyone),
        ("code add", url("referralcode_add"), nobody),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role_as_its_permissions_say(staff, pavel, role):
    client = staff(role)
    got, want = {}, {}
    for label, url, expected in pages(referral_of(pavel)):
        got[label] = client.get(url).status_code
        want[label] = expected[role]

    assert got == want


def test_the_admin_index_lists_the_referral_pages_by_role(staff, pavel):
    def listed_models(role):
        page = staff(role).get(reverse("admin:index")).content.decode()
        return {
            name
            for name in ("referral", "heldreferral", "referrer", "referralprogram")
            if reverse(f"admin:referrals_{name}_changelist") in page
        }

    assert listed_models(M) == {
        "referral",
        "heldreferral",
        "referrer",
        "referralprogram",
    }
    assert listed_models(F) == {"referral"}


def test_a_referral_page_shows_its_history_links_and_holds(
    manager, staff, pavel, record_visit
):
    visit = record_visit(pavel)
    referral = referral_of(pavel)
    url = reverse("admin:referrals_referral_change", args=[referral.pk])

    page = manager.get(url).content.decode()
    desk_page = staff(F).get(url).content.decode()

    # The history: held on sign-up, then the first paid visit while held
    history = f"paid: {visit.amount_paid}, visit: {visit.pk}"
    assert "Held as suspicious" in page
    assert history in page
    assert history in desk_page  # the desk answers "why did it not count?"
    assert "Same device as the referrer or another of their friends" in page
    assert "Same IP address as the referrer" in page
    assert reverse("admin:members_visit_change", args=[visit.pk]) in page
    assert reverse("admin:members_member_change", args=[referral.referrer_id]) in page
    assert reverse("admin:members_member_change", args=[pavel.pk]) in page
    # Held: the page links to its place in the review queue
    assert reverse("admin:referrals_heldreferral_change", args=[referral.pk]) in page


def test_referrals_cannot_be_changed_or_deleted_in_the_admin(manager, boris):
    referral = referral_of(boris)

    change = manager.post(
        reverse("admin:referrals_referral_change", args=[referral.pk]),
        {"status": "rewarded", "referrer_points": "9999"},
    )
    delete = manager.post(
        reverse("admin:referrals_referral_delete", args=[referral.pk]), {"post": "yes"}
    )
    listing = manager.get(reverse("admin:referrals_referral_changelist"))

    assert (change.status_code, delete.status_code) == (403, 403)
    assert listing.context["action_form"] is None  # no "delete selected"
    referral.refresh_from_db()
    assert (referral.status, referral.referrer_points) == (Status.REGISTERED, 0)


# --- The referral list: columns, filters, search ------------------------------


@pytest.fixture
def mixed(db):
    """Vera, Oleg's friend, signed up at the till eight days ago; today Anna's
    friends Boris (registered) and Pavel (held)."""
    with time_machine.travel(NOW - timedelta(days=8), tick=False):
        oleg = enrol("Oleg", "Popov")
        vera = join(oleg, "Vera", "Lebedeva", channel="pos")
    anna = enrol("Anna", "Smirnova")
    boris = join(anna, "Boris", "Kuznetsov")
    pavel = held_friend(anna)
    return {"anna": anna, "boris": boris, "pavel": pavel, "oleg": oleg, "vera": vera}


def referrals_list(client, **params):
    return client.get(reverse("admin:referrals_referral_changelist"), params)


def ids(*friends) -> list[int]:
    return [referral_of(friend).pk for friend in friends]


def test_the_list_shows_referrer_friend_status_and_reason(manager, mixed):
    response = referrals_list(manager)

    assert listed(response) == ids(mixed["pavel"], mixed["boris"], mixed["vera"])
    page = response.content.decode()
    assert "Anna Smirnova" in page
    assert "Boris K." in page  # the friend as the referrer would see them
    assert "Held for review" in page
    assert "Held as suspicious" in page
    assert "Till (POS)" in page


@pytest.mark.parametrize(
    ("params", "who"),
    [
        ({"status__exact": "held"}, ["pavel"]),
        ({"status__exact": "registered"}, ["boris", "vera"]),
        ({"channel__exact": "pos"}, ["vera"]),
        ({"hold": "shared_device"}, ["pavel"]),
        ({"hold": "shared_ip"}, ["pavel"]),
        ({"hold": "velocity"}, []),
        ({"hold": "nonsense"}, ["pavel", "boris", "vera"]),
    ],
)
def test_list_filters(manager, mixed, params, who):
    response = referrals_list(manager, **params)

    assert listed(response) == ids(*(mixed[name] for name in who))


def test_registered_date_filter(manager, mixed):
    response = referrals_list(manager)
    spec = next(
        s
        for s in response.context["cl"].filter_specs
        if getattr(s, "field_path", "") == "registered_at"
    )
    past_week = next(
        c for c in spec.choices(response.context["cl"]) if c["display"] == "Past 7 days"
    )

    filtered = manager.get(
        reverse("admin:referrals_referral_changelist") + past_week["query_string"]
    )

    assert listed(filtered) == ids(mixed["pavel"], mixed["boris"])


def test_filter_by_referrer_titles_the_list_with_their_name(manager, mixed):
    response = referrals_list(manager, referrer=mixed["anna"].pk)

    assert listed(response) == ids(mixed["pavel"], mixed["boris"])
    assert response.context["title"] == "Referrals by Anna Smirnova"
    # The chosen referrer shows in the sidebar, where the filter is cleared
    assert "Anna Smirnova" in response.content.decode()


def test_filter_by_an_unknown_referrer_lists_nothing(manager, mixed):
    assert listed(referrals_list(manager, referrer=999999)) == []


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("code", ["pavel", "boris"]),
        ("Smirnova", ["pavel", "boris"]),  # the referrer's name
        ("Lebedeva", ["vera"]),  # the friend's name
        ("Vera", ["vera"]),
        ("friend phone", ["boris"]),
        ("referrer phone", ["vera"]),
        ("#friend", ["boris"]),
        ("nobody", []),
    ],
)
def test_search(manager, mixed, term, who):
    boris, oleg = mixed["boris"], mixed["oleg"]
    term = {
        "code": code_of(mixed["anna"]).lower(),
        "friend phone": boris.phone.as_national,
        "referrer phone": oleg.phone.as_e164,
        "#friend": f"#{boris.pk}",
    }.get(term, term)

    response = referrals_list(manager, q=term)

    assert listed(response) == ids(*(mixed[name] for name in who))


def test_the_list_reads_a_page_of_30_in_a_fixed_number_of_queries(
    manager, anna, settings, django_assert_max_num_queries
):
    settings.REFERRAL_HOLD_SIGNUPS = 0  # thirty sign-ups at once: no velocity hold
    for n in range(3):
        join(anna, f"Friend{n}", "Early")
    url = reverse("admin:referrals_referral_changelist")
    with django_assert_max_num_queries(100) as few:
        assert manager.get(url).status_code == 200
    for n in range(27):
        join(anna, f"Friend{n}", "Late")

    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        response = manager.get(url)

    assert len(listed(response)) == 30
    assert len(many.captured_queries) <= 12


# --- The review queue -------------------------------------------------------------


def queue(client, **params):
    return client.get(reverse("admin:referrals_heldreferral_changelist"), params)


def review(client, action: str, referrals, **data):
    """The queue's action POST, as the change list (or the review page) sends it."""
    return client.post(
        reverse("admin:referrals_heldreferral_changelist"),
        {
            "action": action,
            ACTION_CHECKBOX_NAME: [str(r.pk) for r in referrals],
            **data,
        },
    )


def test_the_queue_lists_held_referrals_with_what_a_manager_needs(
    manager, mixed, record_visit
):
    visit = record_visit(mixed["pavel"])

    response = queue(manager)

    assert listed(response) == ids(mixed["pavel"])
    page = response.content.decode()
    assert "Same device as the referrer or another of their friends" in page
    assert "anna-phone" in page and "10.1.1.1" in page
    assert reverse("admin:members_visit_change", args=[visit.pk]) in page
    # Anna's record: two invited, none rewarded, one held
    assert "2 invited · 0 rewarded · 1 held · 0 rejected or annulled" in page


def test_approving_asks_first_then_pays_out_on_the_first_visit(
    manager, pavel, record_visit
):
    record_visit(pavel)
    referral = referral_of(pavel)
    assert referral.status == Status.HELD  # the visit waits for the review
    assert referral.qualifying_visit is not None

    confirm = review(manager, "approve_referrals", [referral])
    assert confirm.status_code == 200
    assert confirm.templates[0].name == "admin/referrals/heldreferral/review.html"
    assert referral_of(pavel).status == Status.HELD

    done = review(manager, "approve_referrals", [referral], apply="1", note="Known")

    assert done.status_code == 302
    referral = referral_of(pavel)
    assert (referral.status, referral.cleared) == (Status.REWARDED, True)
    assert referral.referrer_points == 500
    assert (referral.reviewed_by, referral.review_note) == (manager.user, "Known")
    assert LedgerEntry.objects.filter(
        idempotency_key=f"referral:{referral.pk}:referrer"
    ).exists()
    approved = referral.events.get(reason=ReferralEvent.Reason.APPROVED)
    assert (approved.actor, approved.note) == (manager.user, "Known")
    assert (messages.SUCCESS, "1 referral approved.") in shown_messages(done)


def test_approving_before_the_first_visit_sends_it_back_to_wait(manager, pavel):
    referral = referral_of(pavel)

    done = review(manager, "approve_referrals", [referral], apply="1", note="")

    assert done.status_code == 302
    assert referral_of(pavel).status == Status.REGISTERED


def test_rejecting_needs_a_note(manager, pavel):
    referral = referral_of(pavel)

    response = review(manager, "reject_referrals", [referral], apply="1", note="  ")

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "note": ["Say why the referral is rejected."]
    }
    assert 'class="errorlist' in response.content.decode()
    referral = referral_of(pavel)
    assert (referral.status, referral.reviewed_at) == (Status.HELD, None)
    assert referral.events.count() == 1


def test_rejecting_with_a_note(manager, pavel, boris):
    referral = referral_of(pavel)

    done = review(manager, "reject_referrals", [referral], apply="1", note="Twin")

    assert done.status_code == 302
    referral = referral_of(pavel)
    assert (referral.status, referral.reason, referral.review_note) == (
        Status.REJECTED,
        ReferralEvent.Reason.REJECTED_BY_MANAGER,
        "Twin",
    )
    assert referral.events.last().actor_name == "manager"
    assert referral_of(boris).status == Status.REGISTERED  # not selected
    assert (messages.SUCCESS, "1 referral rejected.") in shown_messages(done)


def test_one_referral_decided_meanwhile_is_reported_and_the_rest_done(
    manager, staff, anna, pavel, monkeypatch
):
    """Two managers on the queue: the other rejected Pavel's referral between
    this page's read and the approval. The service refuses it; no error page."""
    second = held_friend(anna, "Ilya")
    other_manager = staff(S).user
    real_approve = services.referral_approve

    def approve_after_the_other_manager(*, referral, actor, note=""):
        if referral.referee_id == pavel.pk:
            services.referral_reject(referral=referral, actor=other_manager, note="No")
        return real_approve(referral=referral, actor=actor, note=note)

    monkeypatch.setattr(services, "referral_approve", approve_after_the_other_manager)
    referrals = [referral_of(pavel), referral_of(second)]

    done = review(manager, "approve_referrals", referrals, apply="1")

    assert done.status_code == 302
    assert referral_of(pavel).status == Status.REJECTED
    assert referral_of(second).status == Status.REGISTERED
    shown = shown_messages(done)
    assert (messages.SUCCESS, "1 referral approved.") in shown
    errors = [text for level, text in shown if level == messages.ERROR]
    assert len(errors) == 1
    assert f"Referral #{referrals[0].pk}" in errors[0]
    assert "Only a referral held for review can be approved" in errors[0]


def test_selected_referrals_no_longer_held_are_left_alone(manager, pavel, boris):
    done = review(
        manager,
        "reject_referrals",
        [referral_of(pavel), referral_of(boris)],
        apply="1",
        note="Fraud ring",
    )

    assert referral_of(pavel).status == Status.REJECTED
    assert referral_of(boris).status == Status.REGISTERED
    assert (
        messages.WARNING,
        "1 selected referral is no longer held for review.",
    ) in shown_messages(done)


def test_approval_over_the_monthly_cap_is_reported(manager, anna, boris, record_visit):
    ReferralProgram.objects.filter(pk=1).update(monthly_cap=1)
    record_visit(boris)  # rewarded: Anna's one for this month
    pavel = held_friend(anna)
    record_visit(pavel)

    done = review(manager, "approve_referrals", [referral_of(pavel)], apply="1")

    assert referral_of(pavel).reason == ReferralEvent.Reason.OVER_CAP
    warnings = [text for level, text in shown_messages(done) if level == 30]
    assert warnings == [
        f"Referral #{referral_of(pavel).pk} was approved but not rewarded: "
        "Referrer over the monthly cap."
    ]


def test_the_held_referral_page_has_approve_and_reject_buttons(manager, staff, pavel):
    url = reverse("admin:referrals_heldreferral_change", args=[referral_of(pavel).pk])

    page = manager.get(url).content.decode()
    analyst_page = staff(A).get(url).content.decode()

    assert 'value="approve_referrals"' in page
    assert 'value="reject_referrals"' in page
    assert 'value="approve_referrals"' not in analyst_page


def test_a_decided_referral_leaves_the_queue_for_its_own_page(manager, boris):
    referral = referral_of(boris)

    response = manager.get(
        reverse("admin:referrals_heldreferral_change", args=[referral.pk])
    )

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:referrals_referral_change", args=[referral.pk]
    )


def test_analyst_cannot_approve(staff, pavel):
    analyst = staff(A)

    listing = queue(analyst)
    response = review(analyst, "approve_referrals", [referral_of(pavel)], apply="1")

    assert listing.context["action_form"] is None
    assert response.status_code in (200, 403)
    referral = referral_of(pavel)
    assert (referral.status, referral.reviewed_at) == (Status.HELD, None)


def test_front_desk_cannot_see_or_use_the_queue(staff, pavel):
    desk = staff(F)

    listing = queue(desk)
    response = review(
        desk, "reject_referrals", [referral_of(pavel)], apply="1", note="x"
    )

    assert (listing.status_code, response.status_code) == (403, 403)
    assert referral_of(pavel).status == Status.HELD


# --- The program ------------------------------------------------------------------


def program_url():
    return reverse("admin:referrals_referralprogram_change", args=[1])


def program_form(client, **changes) -> dict:
    form = client.get(program_url()).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(changes)
    return data


def test_the_program_list_goes_straight_to_the_one_row(manager):
    response = manager.get(reverse("admin:referrals_referralprogram_changelist"))

    assert response.status_code == 302
    assert response["Location"] == program_url()


def test_manager_edits_the_program(manager):
    data = program_form(
        manager,
        referrer_reward_kind="percent",
        referrer_reward_value="10",
        monthly_cap="3",
        min_first_visit_amount="1500",
    )

    response = manager.post(program_url(), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    program = ReferralProgram.objects.get()
    assert (
        program.referrer_reward_kind,
        program.referrer_reward_value,
        program.monthly_cap,
        program.min_first_visit_amount,
    ) == ("percent", Decimal("10"), 3, Decimal("1500"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"friend_reward_kind": "percent", "friend_reward_value": "101"}, "friend"),
        ({"referrer_reward_kind": "points", "referrer_reward_value": "10.5"}, "ref"),
        ({"referrer_reward_value": "-1"}, "ref"),
        ({"monthly_cap": "0"}, "monthly_cap"),
    ],
)
def test_program_values_out_of_range_show_a_form_error(manager, changes, field):
    field = {"friend": "friend_reward_value", "ref": "referrer_reward_value"}.get(
        field, field
    )
    data = program_form(manager, **changes)
    before = list(ReferralProgram.objects.values())

    response = manager.post(program_url(), data)

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert list(ReferralProgram.objects.values()) == before


def test_analyst_cannot_edit_the_program(staff):
    analyst = staff(A)
    data = program_form(analyst, monthly_cap="99")

    response = analyst.post(program_url(), data)

    assert response.status_code == 403
    assert ReferralProgram.objects.get().monthly_cap == 10


# --- The per-referrer summary -------------------------------------------------------


def test_the_summary_counts_each_referrers_referrals(
    manager, anna, settings, record_visit, location
):
    settings.REFERRAL_HOLD_SIGNUPS = 0
    registered = join(anna, "Reg")
    rewarded = join(anna, "Rew")
    record_visit(rewarded)
    annulled = join(anna, "Ann")
    member_services.visit_cancel(visit=record_visit(annulled), reason="Mistake")
    held = held_friend(anna)
    refused = join(anna, "Rej")
    services.referral_reject(referral=referral_of(refused), actor=None, note="Twin")
    oleg = enrol("Oleg", "Popov")
    join(oleg, "Vera")
    enrol("Nobody", "Invited")  # referred no one: not listed
    assert [referral_of(m).status for m in (registered, rewarded, annulled, held)] == [
        Status.REGISTERED,
        Status.REWARDED,
        Status.ANNULLED,
        Status.HELD,
    ]

    response = manager.get(reverse("admin:referrals_referrer_changelist"))

    rows = response.context["cl"].result_list
    assert [m.pk for m in rows] == [anna.pk, oleg.pk]  # most invited first
    row = rows[0]
    assert (
        row.ref_total,
        row.ref_registered,
        row.ref_rewarded,
        row.ref_held,
        row.ref_annulled,
        row.ref_rejected,
        row.ref_points,
        row.ref_month,
    ) == (5, 1, 1, 1, 1, 1, 500, 1)
    page = response.content.decode()
    assert "1 / 10" in page
    held_link = (
        reverse("admin:referrals_referral_changelist")
        + f"?referrer={anna.pk}&amp;status__exact=held"
    )
    assert held_link in page
    # The link opens exactly those referrals
    opened = manager.get(
        reverse("admin:referrals_referral_changelist"),
        {"referrer": anna.pk, "status__exact": "held"},
    )
    assert listed(opened) == ids(held)


def test_the_summary_sorts_by_a_count_and_finds_by_phone(manager, anna):
    oleg = enrol("Oleg", "Popov")
    join(anna, "Boris")
    vera = held_friend(oleg, "Vera")  # Oleg: one held
    assert referral_of(vera).status == Status.HELD
    url = reverse("admin:referrals_referrer_changelist")
    held_column = "5"  # name, phone, invited, registered, rewarded, held…

    by_held = manager.get(url, {"o": f"-{held_column}"})
    by_phone = manager.get(url, {"q": oleg.phone.as_national})
    with_held = manager.get(url, {"held": "yes"})

    assert listed(by_held) == [oleg.pk, anna.pk]
    assert listed(by_phone) == [oleg.pk]
    assert listed(with_held) == [oleg.pk]


# --- Codes ----------------------------------------------------------------------------


def test_front_desk_finds_whose_code_it_is(staff, anna, boris):
    response = staff(F).get(
        reverse("admin:referrals_referralcode_changelist"),
        {"q": f" {code_of(anna).lower()} "},
    )

    assert listed(response) == [anna.pk]


# --- Signing a client up with a code on the member add form --------------------------


def member_form(**overrides) -> dict:
    data = {
        "phone": "8 926 555-44-33",
        "first_name": "Maria",
        "last_name": "Volkova",
        "email": "",
        "birthday": "",
        "status": "active",
        "registered_at_0": "2025-06-10",
        "registered_at_1": "15:00:00",
        "initial-registered_at_0": "2025-06-10",
        "initial-registered_at_1": "15:00:00",
        "registration_location": "",
        "preferences": "",
        "referral_code": "",
        "visits-TOTAL_FORMS": "0",
        "visits-INITIAL_FORMS": "0",
        "visits-MIN_NUM_FORMS": "0",
        "visits-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_staff_sign_a_client_up_with_a_friends_code(staff, anna):
    desk = staff(F)
    code = code_of(anna)

    response = desk.post(
        reverse("admin:members_member_add"),
        member_form(referral_code=f" {code.lower()} "),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    maria = Member.objects.get(phone="+79265554433")
    referral = referral_of(maria)
    assert (referral.referrer, referral.channel, referral.code, referral.status) == (
        anna,
        Referral.Channel.ADMIN,
        code,
        Status.REGISTERED,
    )
    event = referral.events.get()
    assert (event.actor, event.actor_name) == (desk.user, "front_desk")


def test_an_unknown_code_on_the_member_form_is_an_error_and_enrols_nobody(staff, anna):
    members_before = Member.objects.count()

    response = staff(F).post(
        reverse("admin:members_member_add"), member_form(referral_code="NOSUCH1")
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "There is no referral code" in errors["referral_code"][0]
    assert Member.objects.count() == members_before
    assert not Referral.objects.exists()
