"""What members' data the retention job (``core.retention``) purges: sign-in
codes and stale sign-in counters, finished messages, and what is left of
erased members (their wiped messages and revoked tokens; the phone's salted
hash stays on the member row, to tell a returning phone)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Q

from core.retention import delete_in_batches, older_than
from members.models import Member, MemberToken, Message, OtpChallenge, OtpGuard

FINISHED = [Message.Status.SENT, Message.Status.FAILED, Message.Status.SKIPPED]


def purge(*, now: datetime) -> dict[str, int]:
    codes_cutoff = older_than(now, settings.RETENTION_SIGN_IN_CODES_DAYS)
    messages_cutoff = older_than(now, settings.RETENTION_MESSAGES_DAYS)
    erased = Q(member__status=Member.Status.ERASED)
    return {
        "sign_in_codes": delete_in_batches(
            OtpChallenge.objects.filter(created_at__lt=codes_cutoff)
        ),
        "sign_in_counters": delete_in_batches(
            OtpGuard.objects.filter(updated_at__lt=codes_cutoff).filter(
                Q(locked_until__isnull=True) | Q(locked_until__lt=now)
            )
        ),
        "messages": delete_in_batches(
            Message.objects.filter(status__in=FINISHED, created_at__lt=messages_cutoff)
        ),
        "erased_members_messages": delete_in_batches(Message.objects.filter(erased)),
        "erased_members_tokens": delete_in_batches(MemberToken.objects.filter(erased)),
    }
