"""Shared helpers for the referrals tests: the program's terms, a referrer with
a code, friends signing up through ``members.services.member_register`` (so the
member flow registers the code as in production) and first visits recorded
through the visit services (so the visit flow qualifies and pays out).

Nothing here writes referral rows directly: every referral, event and bonus
comes from the services, like in production.
"""

import importlib
import itertools
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model

from members import otp
from members import services as member_services
from members.member_flow import Channel
from members.models import Member, Visit
from members.services import VisitLineInput
from referrals import selectors
from referrals.models import Referral, ReferralEvent, ReferralProgram
from referrals.services import referral_code_for
from rewards import services as rewards_services
from rewards.models import LedgerEntry, PointLot, Wallet
from tests.rewards.conftest import assert_books_balance

# Friends' phones: a range MemberFactory (+7916…) never uses.
_phones = itertools.count(1)


def new_phone() -> str:
    return f"+7925{next(_phones):07d}"


# --- The program ------------------------------------------------------------


def referral_program(**fields) -> ReferralProgram:
    """Change the referral program's terms for this test (``full_clean`` first)."""
    program = selectors.program()
    for name, value in fields.items():
        setattr(program, name, value)
    program.full_clean()
    program.save()
    return program


def add_referral_templates() -> None:
    """The referral message templates, as referrals migration 0002 inserts them."""
    migration = importlib.import_module("referrals.migrations.0002_message_templates")
    migration.add_templates(django_apps, None)


@pytest.fixture
def referral_defaults(db):
    """Shipped rewards settings and tiers, and the referral message templates,
    also after a transactional test's flush (which empties migration rows)."""
    rewards_migration = importlib.import_module(
        "rewards.migrations.0002_ledger_append_only_and_defaults"
    )
    rewards_migration.defaults(django_apps, None)
    add_referral_templates()
    return selectors.program()


@pytest.fixture
def velocity_off(settings):
    """No velocity hold: for tests that sign up more than
    ``REFERRAL_HOLD_SIGNUPS`` friends of one referrer within the hour."""
    settings.REFERRAL_HOLD_SIGNUPS = 0


# --- People -----------------------------------------------------------------


def member_new(*, phone: str | None = None, first_name="Olga", **kwargs) -> Member:
    """A member enrolled through the service (so the phone history is kept)."""
    return member_services.member_register(
        phone=phone or new_phone(), first_name=first_name, **kwargs
    )


@pytest.fixture
def referrer(db):
    """Olga Petrova, a member with a referral code (``referrer.code``)."""
    member = member_new(first_name="Olga", last_name="Petrova")
    member.code = referral_code_for(member=member).code
    return member


@pytest.fixture
def signup(db):
    """``signup(code, phone=…, channel="app", device_id=…, ip=…)`` → the new member.

    Goes through ``member_register`` as the app, the till or the admin would;
    the referrals app's answer is on ``member.outcome`` (the ``referral`` part
    of the sign-in response), the referral (if any) on ``member.referral_made``.
    """

    def run(
        code: str,
        *,
        phone: str | None = None,
        channel: str = Channel.APP,
        device_id: str = "",
        ip: str | None = None,
        first_name: str = "Boris",
        last_name: str = "Ivanov",
        actor=None,
        **kwargs,
    ) -> Member:
        outcome: dict = {}
        member = member_services.member_register(
            phone=phone or new_phone(),
            first_name=first_name,
            last_name=last_name,
            referral_code=code,
            channel=channel,
            device_id=device_id,
            ip=ip,
            actor=actor,
            outcome=outcome,
            **kwargs,
        )
        member.outcome = outcome.get("referral")
        member.referral_made = Referral.objects.filter(referee=member).first()
        return member

    return run


TEST_OTP_CODE = "123456"


@pytest.fixture
def app_sign_in(db, settings):
    """``app_sign_in(phone, referral_code=…, device_id=…, ip=…)`` → ``OtpVerifyResult``.

    Signs in (or up) in the app through ``members.otp`` with a test number's
    fixed code: a new phone is ``MemberRegistered`` (channel app), a known one
    ``MemberSignedIn``; ``result.referral`` is what the app is told.
    """

    def run(phone: str, **kwargs):
        phone = member_services.phone_normalize(phone)
        settings.OTP_TEST_NUMBERS = {
            **settings.OTP_TEST_NUMBERS,
            phone: TEST_OTP_CODE,
        }
        otp.otp_request(phone=phone)
        return otp.otp_verify(phone=phone, code=TEST_OTP_CODE, **kwargs)

    return run


@pytest.fixture
def reviewer(db):
    """A manager who reviews held referrals."""
    return get_user_model().objects.create_user(
        username="reviewer", password="x", is_staff=True
    )


# --- Visits -----------------------------------------------------------------


@pytest.fixture
def first_visit(location, service):
    """``first_visit(friend, amount=…, card_token=…)`` → the recorded visit.

    One line of ``service`` priced ``amount`` (3000.00 by default), paid in
    full, recorded through ``members.services.visit_record`` (no checkout
    benefits: the welcome reward is not reduced). ``checkout=True`` goes
    through ``rewards.services.checkout_commit`` instead, where the base tier's
    first-visit discount applies. Other keywords go to the service
    (``external_id``, ``paid_at``, ``source``…).
    """

    def run(
        friend: Member,
        *,
        amount: Decimal | str = Decimal("3000.00"),
        card_token: str = "",
        checkout: bool = False,
        **kwargs,
    ) -> Visit:
        kwargs.setdefault("location", location)
        lines = [VisitLineInput(service=service, price=Decimal(amount))]
        if checkout:
            result = rewards_services.checkout_commit(
                member=friend, lines=lines, payment_card_token=card_token, **kwargs
            )
        else:
            result = member_services.visit_record(
                member=friend, lines=lines, payment_card_token=card_token, **kwargs
            )
        return result.visit

    return run


# --- Reading the outcome ----------------------------------------------------


def referral_of(friend: Member) -> Referral:
    """The friend's referral, fresh from the database."""
    return Referral.objects.get(referee_id=friend.pk)


def history(referral: Referral) -> list[tuple[str, str, str]]:
    """The referral's moves as (from, to, reason), oldest first."""
    return [
        (e.from_status, e.to_status, e.reason)
        for e in ReferralEvent.objects.filter(referral_id=referral.pk)
    ]


def bonus(referral: Referral, side: str) -> LedgerEntry | None:
    """The ledger entry ``referral:<id>:<side>`` (side: friend / referrer / …:annul)."""
    return LedgerEntry.objects.filter(
        idempotency_key=f"referral:{referral.pk}:{side}"
    ).first()


def referral_entries() -> list[str]:
    """Every referral ledger key, sorted: a whole test's payouts at a glance."""
    return sorted(
        LedgerEntry.objects.filter(idempotency_key__startswith="referral:").values_list(
            "idempotency_key", flat=True
        )
    )


def bonus_lot(referral: Referral, side: str) -> PointLot:
    return PointLot.objects.get(entry=bonus(referral, side))


def assert_ledgers_verify(*members: Member) -> None:
    """Each member's wallet equals their lots and their hash chain holds (a
    member without a wallet must have no ledger entries)."""
    for member in members:
        if not Wallet.objects.filter(pk=member.pk).exists():
            assert not LedgerEntry.objects.filter(member=member).exists()
            continue
        assert_books_balance(member)


def points_of(member: Member) -> tuple[int, int, int]:
    """(available, pending, debt); all 0 for a member without a wallet yet."""
    wallet = Wallet.objects.filter(pk=member.pk).first()
    return (wallet.available, wallet.pending, wallet.debt) if wallet else (0, 0, 0)
