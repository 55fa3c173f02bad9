"""The campaigns admin: a journey made with its steps in one form, the form's
refusals, the status and "run now" actions, the results page (with its CSV)
and the program page, the settings' single row, and what each role may do."""

import csv
import io
from decimal import Decimal as D

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from campaigns.models import Arm, Campaign, CampaignSettings, CampaignStep, Enrollment
from members import roles
from members.models import MessageTemplate, Visit
from tests.campaigns.test_results import DAY, S, enroll, make_campaign
from tests.factories import MemberFactory, PromotionFactory

pytestmark = pytest.mark.django_db

M, F, A = roles.MANAGER, roles.FRONT_DESK, roles.ANALYST


def url(name: str, *args) -> str:
    return reverse(f"admin:campaigns_{name}", args=args)


@pytest.fixture
def staff(staff_roles):
    def make(role: str) -> Client:
        user = get_user_model().objects.create_user(
            username=role.lower().replace(" ", "_"), password="x", is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def manager(staff):
    return staff(M)


@pytest.fixture(autouse=True)
def winback_template(db):
    """The steps below name the "winback" message templates."""
    MessageTemplate.objects.get_or_create(
        key="winback", channel="sms", language="en", defaults={"body": "Hi"}
    )


def test_a_step_needs_an_existing_message_template(manager):
    page = manager.post(
        reverse("admin:campaigns_campaign_add"),
        form_data(steps=[{"template_key": "no-such-key"}]),
    )
    assert page.status_code == 200
    assert "No message template" in page.content.decode()
    assert not Campaign.objects.exists()


def form_data(steps=(), **fields) -> dict:
    """The campaign form as the browser posts it, with its steps' formset."""
    data = {
        "name": "Win-back", "description": "", "kind": "journey", "status": "draft",
        "segment": "", "trigger": "no_visit", "trigger_days": "42",
        "lookback_days": "7", "exit_on_visit": "on", "control_percent": "10",
        "attribution_days": "14", "send_at_0": "", "send_at_1": "",
        "starts_at_0": "", "starts_at_1": "", "ends_at_0": "", "ends_at_1": "",
        "steps-TOTAL_FORMS": str(len(steps)), "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "1", "steps-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for i, step in enumerate(steps):
        row = {
            "position": str(i + 1), "delay_days": "0", "template_key": "winback",
            "channels": "push,sms", "offer": "", "promotion": "", "reward": "",
            "points": "", "offer_days": "14", **step,
        }  # fmt: skip
        data.update({f"steps-{i}-{key}": value for key, value in row.items()})
    data.update({k: v for k, v in fields.items() if v is not None})
    for key in [k for k, v in fields.items() if v is None]:
        data.pop(key, None)
    return data


def errors(page) -> dict:
    """The campaign form's errors and each step's, as {field: [messages]}."""
    assert page.status_code == 200
    found = dict(page.context["adminform"].form.errors)
    for formset in page.context["inline_admin_formsets"]:
        for form in formset.formset.forms:
            found.update({f"step.{k}": v for k, v in form.errors.items()})
        if formset.formset.non_form_errors():
            found["steps"] = formset.formset.non_form_errors()
    return found


def test_a_manager_makes_a_journey_with_its_steps(manager):
    promotion = PromotionFactory(code_required=True)
    page = manager.post(
        url("campaign_add"),
        form_data(steps=[
            {"channels": " Push, sms ,sms", "offer": "promotion",
             "promotion": str(promotion.pk)},
            {"delay_days": "7", "offer": "points", "points": "50"},
        ]),
    )  # fmt: skip

    assert page.status_code == 302, errors(page)
    campaign = Campaign.objects.get()
    assert (campaign.kind, campaign.trigger, campaign.trigger_days) == (
        "journey", "no_visit", 42,
    )  # fmt: skip
    steps = list(campaign.steps.order_by("position"))
    assert [(s.position, s.channels, s.offer) for s in steps] == [
        (1, "push,sms", "promotion"),
        (2, "push,sms", "points"),
    ]
    assert steps[0].promotion == promotion and steps[1].points == 50


STEP = {"offer": ""}


@pytest.mark.parametrize(
    ("fields", "step", "field"),
    [
        ({"kind": "one_off"}, STEP, "trigger"),
        ({"trigger": ""}, STEP, "trigger"),
        ({"trigger_days": ""}, STEP, "trigger_days"),
        ({"trigger": "birthday", "trigger_days": ""}, STEP, "trigger_days"),
        ({"control_percent": "60"}, STEP, "control_percent"),
        ({"control_percent": "-1"}, STEP, "control_percent"),
        ({}, {"channels": "fax,sms"}, "step.channels"),
        ({}, {"channels": " , "}, "step.channels"),
        ({}, {"offer": "promotion"}, "step.promotion"),
        ({}, {"offer": "voucher"}, "step.reward"),
        ({}, {"offer": "points"}, "step.points"),
        ({}, None, "steps"),
    ],
)
def test_bad_input_is_a_form_error(manager, fields, step, field):
    page = manager.post(
        url("campaign_add"), form_data(steps=[step] if step else [], **fields)
    )
    assert field in errors(page)
    assert not Campaign.objects.exists()


def test_a_promotion_without_a_code_cannot_be_a_personal_offer(manager):
    public = PromotionFactory(code_required=False)
    step = {"offer": "promotion", "promotion": str(public.pk)}
    page = manager.post(url("campaign_add"), form_data(steps=[step]))
    assert "must need a code" in str(errors(page)["step.promotion"])


def test_a_one_off_goes_without_a_trigger(manager):
    page = manager.post(
        url("campaign_add"),
        form_data(steps=[STEP], kind="one_off", trigger="", trigger_days=""),
    )
    assert page.status_code == 302, errors(page)


def act(client, action: str, campaigns) -> list[str]:
    page = client.post(
        url("campaign_changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [c.pk for c in campaigns]},
        follow=True,
    )
    return [str(m) for m in page.context["messages"]]


def test_status_actions_and_run_now(manager, record_visit):
    campaign = make_campaign(status=Campaign.Status.DRAFT)
    bare = Campaign.objects.create(name="No steps", trigger="visit")

    said = act(manager, "activate", [campaign, bare])
    assert said == ["No steps has no step.", "1 campaign is now Active."]
    campaign.refresh_from_db()
    assert campaign.status == "active"

    for channel in ("sms", "push"):
        MessageTemplate.objects.get_or_create(
            key="winback", channel=channel, language="en", defaults={"body": "Hi"}
        )
    CampaignStep.objects.filter(campaign=campaign).update(channels="sms")
    Campaign.objects.filter(pk=campaign.pk).update(control_percent=0)
    lapsed = MemberFactory(consent_sms=True)
    record_visit(lapsed, paid_at=(S - 22 * DAY).replace(hour=12))  # 42 days ago
    said = act(manager, "run_now", [campaign])
    assert said == ["Win-back: 1 enrolled, 2 sent, 0 held back."]  # both steps: day 0

    assert act(manager, "pause", [campaign]) == ["1 campaign is now Paused."]
    assert act(manager, "run_now", [campaign]) == [
        "None of them is live now: active and within its dates."
    ]
    assert act(manager, "end", [campaign]) == ["1 campaign is now Ended."]


@pytest.fixture
def measured(record_visit):
    """Two arms of three: treatment 2 converted (1000 + 2000), control 1 (600)."""
    CampaignSettings.objects.create(message_cost=D("10"), gross_margin=D("50"))
    campaign = make_campaign()
    for arm, paid in [(Arm.TREATMENT, ["1000", "2000", None]),
                      (Arm.CONTROL, ["600", None, None])]:  # fmt: skip
        for amount in paid:
            enrollment = enroll(
                campaign, arm, message="sent" if arm == "treatment" else None
            )
            if amount:
                visit = record_visit(enrollment.member, paid_at=S + DAY)
                Visit.objects.filter(pk=visit.pk).update(amount_paid=D(amount))
    return campaign


def test_the_results_page_shows_the_arms_money_and_that_it_is_early(manager, measured):
    page = manager.get(url("campaign_results", measured.pk))
    assert page.status_code == 200
    text = page.content.decode()
    # rpm 1000 against 200: +800 a member, × 3 = 2400; profit 1200; cost 30.
    assert page.context["result"].roi == D("40.0000")
    for shown in ("1,000\u00a0₽", "200\u00a0₽", "+800\u00a0₽", "2,400\u00a0₽",
                  "1,200\u00a0₽", "30\u00a0₽", "40.00\u00a0×", "66.7\u00a0%",
                  "33.3\u00a0%", "+33.3 pp"):  # fmt: skip
        assert shown in text, shown
    assert "Not enough data yet: each group needs at least 100 members." in text


def test_the_results_as_csv(manager, measured):
    page = manager.get(url("campaign_results", measured.pk), {"format": "csv"})
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/csv")
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(page.content.decode()))}
    assert rows["targeted"] == ["3", "3"]
    assert rows["converted"] == ["2", "1"]
    assert rows["revenue_per_member"] == ["1000.00", "200.00"]
    assert rows["incremental_revenue"][0] == "2400.00"
    assert rows["cost"][0] == "30.00"
    assert rows["roi"][0] == "40.0000"
    assert rows["enough_data"][0] == "no"


def test_the_program_page_sums_the_campaigns(manager, measured):
    make_campaign(name="Never ran")
    page = manager.get(url("campaign_program"))
    assert page.status_code == 200
    names = [row["campaign"].name for row in page.context["rows"]]
    assert names == ["Win-back"]
    text = page.content.decode()
    assert "2,400\u00a0₽" in text and "40.00\u00a0×" in text
    assert (
        url("campaign_program")
        in manager.get(url("campaign_changelist")).content.decode()
    )


def test_the_list_shows_the_roi(manager, measured):
    page = manager.get(url("campaign_changelist"))
    assert page.status_code == 200
    assert "40.00\u00a0×" in page.content.decode()
    assert url("campaign_results", measured.pk) in page.content.decode()


def test_the_settings_are_one_row(manager):
    page = manager.get(url("campaignsettings_changelist"))
    row = CampaignSettings.objects.get()
    assert page.url == url("campaignsettings_change", row.pk)
    assert manager.get(url("campaignsettings_add")).status_code == 403
    assert manager.get(url("campaignsettings_delete", row.pk)).status_code == 403


def test_the_front_desk_sees_nothing(staff, measured):
    desk = staff(F)
    for address in (
        url("campaign_changelist"), url("campaign_change", measured.pk),
        url("campaign_results", measured.pk), url("campaign_program"),
        url("enrollment_changelist"), url("campaignsend_changelist"),
    ):  # fmt: skip
        assert desk.get(address).status_code == 403, address


def test_the_analyst_looks_but_does_not_change(staff, measured):
    analyst = staff(A)
    for address in (
        url("campaign_changelist"), url("campaign_change", measured.pk),
        url("campaign_results", measured.pk), url("campaign_program"),
        url("enrollment_changelist"), url("campaignsend_changelist"),
    ):  # fmt: skip
        assert analyst.get(address).status_code == 200, address
    edit = analyst.post(url("campaign_change", measured.pk), form_data(steps=[STEP]))
    assert edit.status_code == 403
    assert analyst.get(url("campaign_add")).status_code == 403
    page = analyst.get(url("campaign_changelist"))
    assert page.context["action_form"] is None


def test_enrollments_are_found_by_the_members_number(manager, measured):
    enrollment = Enrollment.objects.order_by("pk").first()
    page = manager.get(url("enrollment_changelist"), {"q": f"#{enrollment.member_id}"})
    assert [e.pk for e in page.context["cl"].result_list] == [enrollment.pk]
    page = manager.get(url("campaignsend_changelist"), {"arm__exact": "control"})
    assert len(page.context["cl"].result_list) == 3
