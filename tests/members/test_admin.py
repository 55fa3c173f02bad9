"""The operator's admin: lists, search, filters, member forms, the way to the
checkout page and the cancel/refund actions, for a superuser and for each staff
role."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.urls import reverse

from members import services
from members.admin import LargeTablePaginator
from members.models import Member, Visit
from tests.conftest import moscow, stats_of
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
T0 = moscow(2025, 1, 15, 10, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def listed(response) -> set[int]:
    """Primary keys of the rows a changelist shows."""
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


# --- Changelists ----------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["member", "visit", "service", "location", "servicecategory"]
)
def test_changelists_render_with_data(admin_client, member, record_visit, model):
    record_visit(member, paid_at=NOW - timedelta(days=1))

    response = admin_client.get(reverse(f"admin:members_{model}_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1


def test_visit_page_shows_its_lines(admin_client, member, record_visit, service):
    visit = record_visit(member)

    response = admin_client.get(reverse("admin:members_visit_change", args=[visit.pk]))

    assert response.status_code == 200
    assert service.name in response.content.decode()


def test_admin_index_renders(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert "Regulars administration" in response.content.decode()


# --- Member search --------------------------------------------------------------


@pytest.fixture
def anna_and_boris():
    anna = services.member_register(
        phone="+79161234567",
        first_name="Anna",
        last_name="Smirnova",
        email="anna.smirnova@example.com",
    )
    boris = services.member_register(
        phone="+79267654321",
        first_name="Boris",
        last_name="Kuznetsov",
        email="boris@example.com",
    )
    return anna, boris


@pytest.mark.parametrize(
    "query",
    [
        "Smirnova",
        "anna",
        "anna.smirnova@example.com",
        "8 916 123-45-67",
        "+7 (916) 123-45-67",
        "89161234567",
        "+79161234567",
    ],
)
def test_member_search_finds_by_name_email_or_phone_typed_any_way(
    admin_client, anna_and_boris, query
):
    anna, _boris = anna_and_boris

    response = admin_client.get(
        reverse("admin:members_member_changelist"), {"q": query}
    )

    assert listed(response) == {anna.pk}


def test_member_search_without_a_match_lists_nobody(admin_client, anna_and_boris):
    response = admin_client.get(
        reverse("admin:members_member_changelist"), {"q": "8 903 000-00-00"}
    )

    assert listed(response) == set()


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("4567", {"anna"}),
        ("916 123", {"anna"}),
        ("765", {"boris"}),
        ("67", set()),  # two digits are too few to mean a phone: no text matches
    ],
)
def test_member_search_by_digits_matches_inside_phone_numbers(
    admin_client, anna_and_boris, query, who
):
    """A front desk often types the last digits the client says aloud."""
    anna, boris = anna_and_boris
    ids = {"anna": anna.pk, "boris": boris.pk}

    response = admin_client.get(
        reverse("admin:members_member_changelist"), {"q": query}
    )

    assert listed(response) == {ids[name] for name in who}


def test_member_autocomplete_finds_by_phone(admin_client, anna_and_boris):
    anna, _boris = anna_and_boris

    response = admin_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "members",
            "model_name": "visit",
            "field_name": "member",
            "term": "8 916 123 45 67",
        },
    )

    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(anna.pk)]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="estimates come from PostgreSQL"
)
def test_large_unfiltered_lists_are_counted_from_statistics(
    admin_client, anna_and_boris, monkeypatch
):
    """Planner statistics number the pages of a huge list; a filtered list is
    still counted exactly."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE members_member")
    monkeypatch.setattr(LargeTablePaginator, "ESTIMATE_ABOVE", -1)
    url = reverse("admin:members_member_changelist")

    unfiltered = admin_client.get(url)
    filtered = admin_client.get(url, {"q": "Kuznetsov"})

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = 'members_member'"
        )
        estimate = cursor.fetchone()[0]
    assert unfiltered.context["cl"].result_count == estimate
    assert filtered.context["cl"].result_count == 1


# --- Member list filters --------------------------------------------------------


@pytest.fixture
def members_by_last_visit(record_visit):
    """Members whose last visit was N days ago, and one who never came."""
    members = {}
    for days in (10, 60, 120, 200, 400):
        members[days] = MemberFactory()
        record_visit(members[days], paid_at=NOW - timedelta(days=days))
    members["never"] = MemberFactory()
    return members


@pytest.mark.parametrize(
    "value, expected",
    [
        ("30", {10}),
        ("90", {10, 60}),
        ("90-180", {120}),
        ("180-365", {200}),
        ("365+", {400}),
        ("never", {"never"}),
    ],
)
def test_last_visit_filter(admin_client, members_by_last_visit, value, expected):
    response = admin_client.get(
        reverse("admin:members_member_changelist"), {"last_visit": value}
    )

    assert listed(response) == {members_by_last_visit[k].pk for k in expected}


def test_birthday_month_filter(admin_client):
    march = MemberFactory(birthday=date(1990, 3, 8))
    MemberFactory(birthday=date(1985, 7, 3))
    MemberFactory(birthday=None)

    response = admin_client.get(
        reverse("admin:members_member_changelist"), {"birthday_month": "3"}
    )

    assert listed(response) == {march.pk}


def test_status_filter(admin_client):
    MemberFactory()
    blocked = MemberFactory(status=Member.Status.BLOCKED)

    response = admin_client.get(
        reverse("admin:members_member_changelist"), {"status__exact": "blocked"}
    )

    assert listed(response) == {blocked.pk}


def test_filters_are_offered_on_the_member_list(admin_client):
    response = admin_client.get(reverse("admin:members_member_changelist"))

    titles = {str(spec.title) for spec in response.context["cl"].filter_specs}
    assert {"status", "last visit", "birthday month"} <= titles


# --- Member forms ----------------------------------------------------------------


def member_form(**overrides) -> dict:
    """POST data of the member add/change form, as a browser sends it."""
    data = {
        "phone": "8 916 123-45-67",
        "first_name": "Anna",
        "last_name": "Smirnova",
        "email": "Anna@Example.com",
        "birthday": "1990-03-08",
        "status": "active",
        # Left as shown: the browser also posts the shown value as "initial-…"
        "registered_at_0": "2025-01-15",
        "registered_at_1": "10:00:00",
        "initial-registered_at_0": "2025-01-15",
        "initial-registered_at_1": "10:00:00",
        "registration_location": "",
        "preferences": "Firm pressure",
        # The read-only visit history inline's management form
        "visits-TOTAL_FORMS": "0",
        "visits-INITIAL_FORMS": "0",
        "visits-MIN_NUM_FORMS": "0",
        "visits-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_member_add_page_renders(admin_client):
    response = admin_client.get(reverse("admin:members_member_add"))

    assert response.status_code == 200


def test_adding_a_member_goes_through_the_service(admin_client, location):
    # When a member is added in the admin with SMS consent ticked, the
    # registration time left at the "now" the page showed
    response = admin_client.post(
        reverse("admin:members_member_add"),
        member_form(
            consent_sms="on",
            registration_location=str(location.pk),
            **{
                "registered_at_0": "2025-06-10",
                "registered_at_1": "15:00:00",
                "initial-registered_at_0": "2025-06-10",
                "initial-registered_at_1": "15:00:00",
            },
        ),
    )

    # Then the member exists, normalised, every consent decision stamped
    assert response.status_code == 302, response.context["adminform"].form.errors
    member = Member.objects.get()
    assert member.phone.as_e164 == "+79161234567"
    assert member.email == "anna@example.com"
    assert member.registration_location == location
    assert member.registered_at == NOW
    assert (member.consent_sms, member.consent_sms_at) == (True, NOW)
    assert (member.consent_email, member.consent_email_at) == (False, NOW)
    assert (member.consent_push, member.consent_push_at) == (False, NOW)
    assert (member.visits_count, member.total_spent) == (0, 0)


def test_adding_a_member_enrolled_earlier_keeps_the_date_typed(admin_client):
    # The page showed "now"; the operator typed the paper card's date instead
    response = admin_client.post(
        reverse("admin:members_member_add"),
        member_form(
            **{
                "initial-registered_at_0": "2025-06-10",
                "initial-registered_at_1": "15:00:00",
            }
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Member.objects.get().registered_at == T0


def test_adding_a_member_with_a_taken_phone_shows_an_error(admin_client, member):
    response = admin_client.post(
        reverse("admin:members_member_add"),
        member_form(phone=member.phone.as_e164),
    )

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert Member.objects.count() == 1


@pytest.fixture
def registered():
    with time_machine.travel(T0, tick=False):
        return services.member_register(
            phone="+79161234567",
            first_name="Anna",
            last_name="Smirnova",
            email="anna@example.com",
            birthday=date(1990, 3, 8),
            preferences="Firm pressure",
            consents={"sms": True, "email": False, "push": False},
        )


def test_changing_consent_in_the_admin_stamps_only_that_channel(
    admin_client, registered
):
    response = admin_client.post(
        reverse("admin:members_member_change", args=[registered.pk]),
        member_form(consent_sms="on", consent_email="on", last_name="Petrova"),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    registered.refresh_from_db()
    assert registered.last_name == "Petrova"
    assert (registered.consent_email, registered.consent_email_at) == (True, NOW)
    assert (registered.consent_sms, registered.consent_sms_at) == (True, T0)
    assert (registered.consent_push, registered.consent_push_at) == (False, T0)


def test_correcting_the_registration_date_in_the_admin(admin_client, registered):
    response = admin_client.post(
        reverse("admin:members_member_change", args=[registered.pk]),
        member_form(
            consent_sms="on", registered_at_0="2024-12-01", registered_at_1="09:30:00"
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    registered.refresh_from_db()
    assert registered.registered_at == moscow(2024, 12, 1, 9, 30)


def test_member_change_page_shows_the_visit_history(
    admin_client, member, record_visit, addon
):
    # Given two visits, one of them cancelled
    record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0))
    cancelled = record_visit(
        member,
        paid_at=moscow(2025, 6, 1, 12, 0),
        lines=[services.VisitLineInput(service=addon, quantity=2)],
    )
    services.visit_cancel(visit=cancelled)

    response = admin_client.get(
        reverse("admin:members_member_change", args=[member.pk])
    )

    # Then both appear in the history, newest first, with their services
    assert response.status_code == 200
    (history,) = response.context["inline_admin_formsets"]
    assert str(history.opts.verbose_name_plural) == "visit history"
    shown = [form.instance for form in history.formset.forms]
    assert [v.paid_at for v in shown] == [
        moscow(2025, 6, 1, 12, 0),
        moscow(2025, 5, 1, 12, 0),
    ]
    page = response.content.decode()
    assert "Classic massage, 60 min" in page
    assert "Aromatherapy add-on × 2" in page
    assert checkout_url(member) in page


# --- Visits → Add: the checkout page ---------------------------------------------


def checkout_url(member=None) -> str:
    """The front desk's checkout page (rewards), on ``member`` if given."""
    url = reverse("admin:rewards_checkout")
    return f"{url}?member={member.pk}" if member else url


@pytest.fixture(params=["superuser", "front desk"])
def checkout_client(request):
    """A superuser, then a front-desk clerk: both record visits."""
    if request.param == "superuser":
        return request.getfixturevalue("admin_client")
    return request.getfixturevalue("front_desk_client")


def test_visits_add_leads_to_the_checkout_on_the_member(checkout_client, member):
    response = checkout_client.get(
        reverse("admin:members_visit_add"), {"member": member.pk}
    )

    # Then the checkout page opens on the member, and this user may use it
    assert response.status_code == 302
    assert response["Location"] == checkout_url(member)
    assert checkout_client.get(response["Location"]).status_code == 200


def test_visits_add_without_a_member_opens_an_empty_checkout(checkout_client):
    response = checkout_client.get(
        reverse("admin:members_visit_add"), {"member": "not-a-number"}
    )

    assert response.status_code == 302
    assert response["Location"] == checkout_url()


def test_a_post_to_visits_add_records_nothing(
    checkout_client, member, location, service
):
    # Given what the old unpriced form posted
    response = checkout_client.post(
        reverse("admin:members_visit_add"),
        {
            "member": str(member.pk),
            "location": str(location.pk),
            "paid_at_0": "2025-06-10",
            "paid_at_1": "14:30:00",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-service": str(service.pk),
            "lines-0-quantity": "1",
        },
    )

    # Then it is sent to the checkout and no visit is recorded
    assert response.status_code == 302
    assert response["Location"] == checkout_url()
    assert not Visit.objects.exists()
    assert stats_of(member)[:2] == (0, 0)


def test_the_visit_list_add_button_is_the_checkout(checkout_client):
    response = checkout_client.get(reverse("admin:members_visit_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="{checkout_url()}" class="addlink">Record a visit<' in page
    # Django's own "Add visit" button is gone; the sidebar's "Add" still points
    # at Visits → Add, which leads to the checkout
    assert "Add visit" not in page


def test_who_may_not_use_the_checkout_cannot_add_visits(analyst_client):
    # An analyst neither gets the checkout nor the way to it
    assert analyst_client.get(checkout_url()).status_code == 403
    assert analyst_client.get(reverse("admin:members_visit_add")).status_code == 403
    page = analyst_client.get(reverse("admin:members_visit_changelist"))
    assert checkout_url() not in page.content.decode()


# --- Cancel and refund actions ---------------------------------------------------


def action_post(client, action, visits, **extra):
    data = {
        "action": action,
        "index": "0",
        ACTION_CHECKBOX_NAME: [str(v.pk) for v in visits],
    }
    data.update(extra)
    return client.post(reverse("admin:members_visit_changelist"), data)


def available_actions(client) -> set[str]:
    response = client.get(reverse("admin:members_visit_changelist"))
    assert response.status_code == 200
    action_form = response.context["action_form"]
    if action_form is None:  # no action at all: Django hides the action bar
        return set()
    return {name for name, _label in action_form.fields["action"].choices} - {""}


def test_cancel_action_asks_for_a_reason_then_cancels(
    front_desk_client, member, record_visit
):
    older = record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0))
    visit = record_visit(member, paid_at=moscow(2025, 6, 1, 12, 0))

    # When the action is chosen, a page asks for the reason and changes nothing
    response = action_post(front_desk_client, "cancel_visits", [visit])
    assert response.status_code == 200
    assert response.templates[0].name == "admin/members/visit/status_action.html"
    assert list(response.context["visits"]) == [visit]
    visit.refresh_from_db()
    assert visit.status == Visit.Status.PAID

    # When the reason is given, the visit is cancelled and out of the stats
    response = front_desk_client.post(
        reverse("admin:members_visit_changelist"),
        {
            "action": "cancel_visits",
            ACTION_CHECKBOX_NAME: [str(visit.pk)],
            "apply": "1",
            "reason": "Client did not come",
        },
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == Visit.Status.CANCELLED
    assert visit.status_reason == "Client did not come"
    assert visit.status_changed_by == front_desk_client.user
    assert stats_of(member) == (1, Decimal("3000.00"), older.paid_at, older.paid_at)


def test_cancel_action_without_a_reason_changes_nothing(
    admin_client, member, record_visit
):
    visit = record_visit(member)

    response = action_post(
        admin_client, "cancel_visits", [visit], apply="1", reason=" "
    )

    assert response.status_code == 200
    assert "Please give a reason." in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == Visit.Status.PAID
    assert stats_of(member)[0] == 1


def test_cancel_action_reports_visits_it_cannot_cancel(
    admin_client, member, record_visit
):
    refunded = record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0))
    services.visit_refund(visit=refunded)
    paid = record_visit(member, paid_at=moscow(2025, 6, 1, 12, 0))

    response = action_post(
        admin_client, "cancel_visits", [refunded, paid], apply="1", reason="Mistake"
    )

    assert response.status_code == 302
    refunded.refresh_from_db()
    paid.refresh_from_db()
    assert (refunded.status, paid.status) == (
        Visit.Status.REFUNDED,
        Visit.Status.CANCELLED,
    )
    shown = [(m.level, str(m)) for m in response.wsgi_request._messages]
    assert (messages.SUCCESS, "1 visit updated.") in shown
    errors = [text for level, text in shown if level == messages.ERROR]
    assert len(errors) == 1 and f"#{refunded.pk}" in errors[0]
    assert stats_of(member)[0] == 0


def test_front_desk_cannot_refund(front_desk_client, member, record_visit):
    visit = record_visit(member)

    # The action is not offered…
    actions = available_actions(front_desk_client)
    assert "cancel_visits" in actions
    assert "refund_visits" not in actions

    # …and posting it anyway does nothing
    response = action_post(
        front_desk_client, "refund_visits", [visit], apply="1", reason="Refund"
    )
    assert response.status_code in (302, 403)
    visit.refresh_from_db()
    assert visit.status == Visit.Status.PAID
    assert stats_of(member)[0] == 1


def test_manager_can_refund(manager_client, member, record_visit):
    visit = record_visit(member)
    assert {"cancel_visits", "refund_visits"} <= available_actions(manager_client)

    response = action_post(
        manager_client, "refund_visits", [visit], apply="1", reason="Unhappy client"
    )

    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == Visit.Status.REFUNDED
    assert visit.status_changed_by == manager_client.user
    assert stats_of(member) == (0, Decimal("0.00"), None, None)


# --- Roles ------------------------------------------------------------------------


def test_front_desk_works_the_member_pages(front_desk_client, member):
    for url in (
        reverse("admin:members_member_changelist"),
        reverse("admin:members_member_add"),
        reverse("admin:members_member_change", args=[member.pk]),
        reverse("admin:rewards_checkout"),
        reverse("admin:members_service_changelist"),
    ):
        assert front_desk_client.get(url).status_code == 200, url


def test_front_desk_cannot_change_the_catalogue(front_desk_client, service):
    response = front_desk_client.get(reverse("admin:members_service_add"))

    assert response.status_code == 403


def test_analyst_can_view_but_not_add(analyst_client, member, record_visit):
    visit = record_visit(member)

    for url in (
        reverse("admin:members_member_changelist"),
        reverse("admin:members_member_change", args=[member.pk]),
        reverse("admin:members_visit_changelist"),
        reverse("admin:members_visit_change", args=[visit.pk]),
    ):
        assert analyst_client.get(url).status_code == 200, url
    assert analyst_client.get(reverse("admin:members_member_add")).status_code == 403
    assert analyst_client.get(reverse("admin:members_visit_add")).status_code == 403
    # Exports only (phones masked, tests/members/test_exports.py): nothing that acts
    assert available_actions(analyst_client) == {
        "export_visits_csv",
        "export_visits_xlsx",
    }


def test_analyst_cannot_change_a_member(analyst_client, member):
    response = analyst_client.post(
        reverse("admin:members_member_change", args=[member.pk]),
        member_form(phone=member.phone.as_e164, first_name="Changed"),
    )

    assert response.status_code == 403
    member.refresh_from_db()
    assert member.first_name == "Anna"


def test_nobody_deletes_members(admin_client, member):
    response = admin_client.get(
        reverse("admin:members_member_delete", args=[member.pk])
    )

    assert response.status_code == 403
    assert Member.objects.filter(pk=member.pk).exists()


def test_member_search_ignores_control_characters_from_a_scanner(
    admin_client, anna_and_boris
):
    anna, _boris = anna_and_boris

    response = admin_client.get(
        reverse("admin:members_member_changelist"), {"q": "\x1b+7 916 123-45-67\r"}
    )

    assert response.status_code == 200
    assert listed(response) == {anna.pk}


def test_member_search_with_a_nul_byte_is_no_server_error(admin_client, anna_and_boris):
    response = admin_client.get(
        reverse("admin:members_member_changelist"), {"q": "\x00+7 916\x00"}
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    "role", ["front_desk_client", "manager_client", "analyst_client"]
)
def test_every_role_that_sees_a_visit_sees_its_lines(request, role, record_visit):
    client = request.getfixturevalue(role)
    visit = record_visit(MemberFactory())

    page = client.get(reverse("admin:members_visit_change", args=[visit.pk]))

    assert page.status_code == 200
    assert "Classic massage, 60 min" in page.content.decode()
    assert "inline-group" in page.content.decode()


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "{dashed}"])
def test_the_member_list_finds_the_card_the_app_shows(front_desk_client, typed):
    from members.cards import member_card_code

    anna, other = MemberFactory(first_name="Anna"), MemberFactory(first_name="Olga")
    code = member_card_code(anna)
    term = typed.format(
        code=code, lower=code.lower(), dashed=f"{code[:5]}-{code[5:]}".lower()
    )

    page = front_desk_client.get(
        reverse("admin:members_member_changelist"), {"q": term}
    ).content.decode()

    assert anna.full_name in page
    assert other.full_name not in page
