"""The referrals app's reactions to members and visits (``member_flow``,
``visit_flow``). Thin: each hands over to ``referrals.services``."""

from __future__ import annotations

from members.member_flow import Channel, MemberErased, MemberRegistered, MemberSignedIn
from members.visit_flow import VisitRecorded, VisitReversed
from referrals import services


class ReferralMemberReaction:
    def referral_code_check(self, code: str) -> None:
        services.referral_code_check(code)

    def member_registered(self, event: MemberRegistered) -> None:
        if not event.referral_code:
            return
        outcome = services.referral_register(
            referee=event.member,
            code=event.referral_code,
            channel=event.channel,
            device_id=event.device_id,
            ip=event.ip,
            actor=event.actor,
            # The app never refuses a sign-in over a code; a till or the
            # admin get an error to correct.
            strict=event.channel != Channel.APP,
        )
        event.outcome["referral"] = outcome.as_dict()

    def member_signed_in(self, event: MemberSignedIn) -> None:
        # An existing member following a friend's link: a new client still if
        # they have never visited (services decide), otherwise recorded as not new.
        if not event.referral_code:
            return
        outcome = services.referral_register(
            referee=event.member,
            code=event.referral_code,
            channel=Channel.APP,
            device_id=event.device_id,
            ip=event.ip,
            strict=False,
        )
        event.outcome["referral"] = outcome.as_dict()

    def member_erased(self, event: MemberErased) -> None:
        services.referral_member_erased(member=event.member)


class ReferralVisitReaction:
    def visit_recorded(self, event: VisitRecorded) -> None:
        services.referral_visit_recorded(
            visit=event.visit, member=event.visit.member, actor=event.actor
        )

    def visit_reversed(self, event: VisitReversed) -> None:
        services.referral_visit_reversed(visit=event.visit, actor=event.actor)
