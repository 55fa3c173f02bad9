"""Every phone a member has had is kept as a salted hash (referrals: new clients)."""

import importlib

from django.apps import apps as django_apps

from members import privacy, services
from members.models import MemberPhone
from tests.factories import MemberFactory


def hashes(member) -> set[str]:
    return set(
        MemberPhone.objects.filter(member=member).values_list("phone_hash", flat=True)
    )


def test_registering_and_changing_the_phone_keep_every_number(db):
    member = services.member_register(phone="8 916 123-45-67", first_name="Anna")
    services.member_update(member=member, phone="+79161112233")

    assert hashes(member) == {
        privacy.phone_hash("+79161234567"),
        privacy.phone_hash("+79161112233"),
    }


def test_the_migration_backfills_members_and_erased_members(db):
    # Given members written without the service (as the demo's bulk insert does)
    kept = MemberFactory(phone="+79160000001")
    erased = privacy.member_erase(member=MemberFactory(phone="+79160000002"))
    MemberPhone.objects.all().delete()

    # When the migration's backfill runs
    migration = importlib.import_module(
        "members.migrations.0005_phone_history_card_hash_device"
    )
    migration.phone_history_backfill(django_apps, None)

    # Then each has its phone's hash, from E.164 as the services compute it
    assert hashes(kept) == {privacy.phone_hash("+79160000001")}
    assert hashes(erased) == {privacy.phone_hash("+79160000002")}
