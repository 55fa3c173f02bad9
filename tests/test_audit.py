"""The audit trail: every staff change to an audited model is recorded with
who, when, from which IP, and the fields before and after; one read-only list
in the admin, the versions on each object; a member's erasure keeps the
events but not the values."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse
from simple_history.models import HistoricalRecords

from audit.models import AuditEvent
from campaigns.models import Campaign, CampaignSettings, CampaignStep, Segment
from members import access
from members.models import Member
from members.privacy import member_erase
from referrals.models import ReferralProgram
from rewards.models import CategoryEarnRate, ProgramSettings, Reward, Tier
from tests.factories import MemberFactory
from tests.factories.campaigns import PromoCodeFactory, PromotionFactory
from tests.factories.members import ServiceCategoryFactory
from tests.factories.rewards import RewardFactory, TierFactory

pytestmark = pytest.mark.django_db


def _campaign():
    return Campaign.objects.create(
        name="Win-back", kind=Campaign.Kind.JOURNEY, trigger=Campaign.Trigger.NO_VISIT
    )


# (make an object, a field to change, its new value)
AUDITED = {
    "member": (lambda: MemberFactory(), "first_name", "Olga"),
    "api key": (
        lambda: access.api_key_issue(location=_location(), name="till")[0],
        "name",
        "front till",
    ),
    "program settings": (lambda: ProgramSettings.objects.get_or_create(pk=1)[0], "point_value", Decimal("3.37")),
    "earn rate": (
        lambda: CategoryEarnRate.objects.create(category=ServiceCategoryFactory(), rate=5),
        "rate",
        Decimal("7"),
    ),
    "tier": (lambda: TierFactory(), "name", "Diamond 7"),
    "reward": (lambda: RewardFactory(), "name", "Free coffee"),
    "campaign settings": (lambda: CampaignSettings.objects.get_or_create(pk=1)[0], "sending_paused", True),
    "campaign": (_campaign, "name", "Come back"),
    "campaign step": (
        lambda: CampaignStep.objects.create(campaign=_campaign(), position=1, template_key="winback"),
        "delay_days",
        3,
    ),
    "promotion": (lambda: PromotionFactory(), "name", "Spring"),
    "promo code": (lambda: PromoCodeFactory(), "max_uses", 9),
    "segment": (lambda: Segment.objects.create(name="Test 7", definition={}), "name", "Test 8"),
    "referral terms": (lambda: ReferralProgram.objects.get_or_create(pk=1)[0], "monthly_cap", 3),
}  # fmt: skip


def same(recorded, value) -> bool:
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return Decimal(str(recorded)) == Decimal(value)
    return str(recorded) == str(value)


def _location():
    from tests.factories.members import LocationFactory

    return LocationFactory()


@pytest.fixture
def staff_request(db):
    """A request by a staff user from 10.1.2.3, as the middleware keeps it."""
    user = get_user_model().objects.create_user(
        username="olga", password="x", is_staff=True
    )
    request = RequestFactory().post("/admin/", REMOTE_ADDR="10.1.2.3")
    request.user = user
    HistoricalRecords.context.request = request
    yield request
    if hasattr(HistoricalRecords.context, "request"):
        del HistoricalRecords.context.request


@pytest.mark.parametrize("kind", list(AUDITED))
def test_each_audited_model_records_who_when_where_before_and_after(
    kind, staff_request
):
    make, field, value = AUDITED[kind]
    obj = make()
    before = getattr(obj, field)
    AuditEvent.objects.all().delete()  # what making it (and its relations) wrote

    setattr(obj, field, value)
    obj.save()

    event = AuditEvent.objects.get(object_id=str(obj.pk), action="~")
    assert event.user == staff_request.user and event.username == "olga"
    assert event.ip == "10.1.2.3"
    assert event.content_type.model_class() == obj._meta.concrete_model
    assert field in event.changes
    old, new = event.changes[field]
    assert same(old, before) and same(new, value)
    # and the object's versions hold it too
    assert obj.history.count() >= 1


def test_a_change_in_the_admin_is_recorded_with_the_staff_user_and_ip(
    admin_client, admin_user
):
    tier = TierFactory(name="Copper")
    url = reverse("admin:rewards_tier_change", args=[tier.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {
        name: form[name].value()
        for name in form.fields
        if form[name].value() is not None
    }
    data["name"] = "Copper+"
    response = admin_client.post(url, data, REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 302, response.context["adminform"].form.errors

    event = AuditEvent.objects.get(object_id=str(tier.pk), action="~")
    assert (event.user, event.ip) == (admin_user, "10.9.8.7")
    assert event.changes["name"] == ["Copper", "Copper+"]
    # the object's history page lists the version
    history = admin_client.get(reverse("admin:rewards_tier_history", args=[tier.pk]))
    assert history.status_code == 200 and "Copper+" in history.content.decode()


def test_a_change_made_by_the_system_has_no_user():
    tier = TierFactory(name="Jade")
    tier.name = "Jade 2"
    tier.save()
    event = AuditEvent.objects.get(object_id=str(tier.pk), action="~")
    assert event.user is None and event.username == "" and event.ip is None


def test_the_list_is_searchable_and_read_only(admin_client, staff_request):
    tier = TierFactory(name="Amber")
    tier.name = "Amber 2"
    tier.save()
    changelist = reverse("admin:audit_auditevent_changelist")
    page = admin_client.get(changelist, {"q": "olga"}).content.decode()
    assert "Amber 2" in page
    event = AuditEvent.objects.filter(object_id=str(tier.pk)).first()
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    detail = admin_client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert detail.status_code == 200 and "Amber 2" in detail.content.decode()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_erasing_a_member_keeps_the_events_without_the_values(staff_request):
    member = MemberFactory(first_name="Anna", last_name="Petrova")
    member.first_name = "Anya"
    member.save()
    member_erase(member=member)

    events = AuditEvent.objects.filter(object_id=str(member.pk))
    assert events.count() >= 3  # created, renamed, erased
    text = str(list(events.values_list("changes", "object_repr")))
    assert "Anna" not in text and "Anya" not in text and "Petrova" not in text
    assert not Member.history.filter(id=member.pk).exists()


def test_secrets_are_never_kept(staff_request):
    key, _raw = access.api_key_issue(location=_location(), name="till")
    created = AuditEvent.objects.get(object_id=str(key.pk), action="+")
    assert "key_hash" not in created.changes and "name" in created.changes
    assert not hasattr(key.history.first(), "key_hash")


def test_reward_prices_are_audited_too(staff_request):
    reward = RewardFactory()
    reward.points_cost = 999
    reward.save()
    event = AuditEvent.objects.get(object_id=str(reward.pk), action="~")
    assert event.changes["points_cost"][1] == 999
    assert Reward.history.filter(id=reward.pk).count() == 2
    assert Tier.history.count() == 0
