"""Running campaigns: enroll who the trigger found, send each due step.

``campaigns_run(now)`` (the beat task every few minutes, ``run_campaigns`` by
hand) does for each live campaign, under a row lock on the campaign:

1. **Exit**: a running enrollment whose member paid a visit after the trigger
   ends (``exit_on_visit``) — one UPDATE.
2. **Enroll**: the trigger's rows (``campaigns.triggers``) within the
   audience, with a channel of the first step allowed (consent, the weekly
   frequency cap), outside the program-wide control group, are inserted with
   their arm — a hash of (salt, member) into 10,000 buckets, computed in SQL —
   by one ``INSERT … SELECT``. The unique (campaign, member, occurrence) and
   "one running per member" turn away what is already there: a run repeated
   enrolls nobody twice.
3. **Send**: per step, the due enrollments in chunks: a channel each (the
   first the member consents to and is under the cap on), the offer and the
   message for the treatment (the outbox's bulk queue, deduplicated by
   enrollment and step), a ghost send for the control; then the enrollments
   move on. ``CampaignSend`` is unique per (enrollment, step): nothing is
   sent twice, whatever is re-run.

Nothing runs while ``CampaignSettings.sending_paused`` is on; the look-back
catches up afterwards.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import (
    CharField,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Value,
)
from django.utils import timezone

from campaigns import holdout
from campaigns.codes import codes_personal
from campaigns.models import (
    Arm,
    Campaign,
    CampaignSend,
    CampaignSettings,
    CampaignStep,
    Enrollment,
)
from campaigns.segments import big_sorts, definition_q
from campaigns.triggers import trigger_rows
from core.bulk import rows_copy
from members.messaging.services import (
    CONSENT_CHANNELS,
    OutgoingMessage,
    messages_queue_many,
)
from members.messaging.unsubscribe import unsubscribe_url
from members.models import Member, Message, Visit
from rewards.models import Voucher
from rewards.services.points import points_bonus
from rewards.services.vouchers import voucher_issue

logger = logging.getLogger(__name__)

CHUNK = 5000
CAP_DAYS = 7


@dataclass
class CampaignRun:
    campaign: str
    exited: int = 0
    enrolled: int = 0
    sent: int = 0
    ghosts: int = 0
    no_channel: int = 0


@dataclass
class RunResult:
    at: datetime
    paused: bool = False
    campaigns: list[CampaignRun] = field(default_factory=list)
    seconds: float = 0.0


def live_campaigns(now: datetime):
    return Campaign.objects.filter(status=Campaign.Status.ACTIVE).filter(
        Q(starts_at__isnull=True) | Q(starts_at__lte=now),
        Q(ends_at__isnull=True) | Q(ends_at__gt=now),
        Q(send_at__isnull=True) | Q(send_at__lte=now),
    )


def campaigns_run(now: datetime | None = None, *, ids=None) -> RunResult:
    """Run every live campaign (or those of ``ids``) as of ``now``."""
    started = time.monotonic()
    now = now or timezone.now()
    result = RunResult(at=now)
    config = CampaignSettings.current()
    if config.sending_paused:
        result.paused = True
        return result
    campaigns = live_campaigns(now)
    if ids:
        campaigns = campaigns.filter(pk__in=ids)
    for campaign_id in campaigns.order_by("pk").values_list("pk", flat=True):
        result.campaigns.append(campaign_run(campaign_id, now=now, config=config))
    result.seconds = time.monotonic() - started
    return result


def campaign_run(campaign_id: int, *, now: datetime, config=None) -> CampaignRun:
    config = config or CampaignSettings.current()
    with big_sorts():  # a transaction; the audience's subqueries hashed
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        run = CampaignRun(campaign=campaign.name)
        steps = list(campaign.steps.order_by("position"))
        if not steps:
            return run
        if campaign.exit_on_visit:
            run.exited = _exit_on_visit(campaign, now)
        run.enrolled = _enroll(campaign, steps[0], now, config)
        for index, step in enumerate(steps):
            last = index == len(steps) - 1
            sent, ghosts, none = _send_step(campaign, step, last, now, config)
            run.sent += sent
            run.ghosts += ghosts
            run.no_channel += none
        fields = {"last_run_at": now}
        if campaign.launched_at is None:
            fields["launched_at"] = now
        if (
            campaign.kind == Campaign.Kind.ONE_OFF
            and not campaign.enrollments.filter(
                status=Enrollment.Status.RUNNING
            ).exists()
        ):
            fields["status"] = Campaign.Status.ENDED
        Campaign.objects.filter(pk=campaign.pk).update(**fields)
    return run


# --- 1. exit ---------------------------------------------------------------------


def _exit_on_visit(campaign: Campaign, now: datetime) -> int:
    visited = Visit.objects.filter(
        member_id=OuterRef("member_id"),
        status=Visit.Status.PAID,
        paid_at__gt=OuterRef("trigger_at"),
        paid_at__lte=now,
    )
    return (
        Enrollment.objects.filter(campaign=campaign, status=Enrollment.Status.RUNNING)
        .filter(Exists(visited))
        .update(status=Enrollment.Status.EXITED, ended_at=now)
    )


# --- 2. enroll -------------------------------------------------------------------


def reachable_q(channels: list[str], now: datetime, cap: int) -> Q:
    """Members with at least one of ``channels`` open: consent given (the
    in-app inbox needs none) and fewer than ``cap`` campaign sends on it in
    the last week (control ghosts count: both arms are capped alike)."""
    since = now - timedelta(days=CAP_DAYS)
    q = Q(pk__in=[])
    for channel in channels:
        capped = (
            CampaignSend.objects.filter(channel=channel, created_at__gte=since)
            .values("member_id")
            .annotate(n=Count("pk"))
            .filter(n__gte=cap)
            .values("member_id")
        )
        open_ = ~Q(pk__in=capped)
        if channel in CONSENT_CHANNELS:
            open_ &= Q(**{f"consent_{channel}": True})
        q |= open_
    return q


def audience_q(campaign: Campaign, now: datetime, config, first: CampaignStep) -> Q:
    q = Q()
    if campaign.segment_id is not None:
        q &= definition_q(campaign.segment.definition, timezone.localdate(now))
    q &= reachable_q(first.channel_list, now, config.frequency_cap)
    if config.program_control_percent:
        q &= ~Q(pk__in=program_control_ids(config))
    return q


class Bucket(Func):
    """The holdout bucket of (salt, member id), in SQL (``campaigns.holdout``)."""

    output_field = IntegerField()

    def as_sql(self, compiler, connection, **extra):
        salt, salt_params = compiler.compile(self.source_expressions[0])
        member, member_params = compiler.compile(self.source_expressions[1])
        sql = holdout.bucket_sql(salt, member, connection.vendor)
        return sql, [*salt_params, *member_params]


def program_control_ids(config):
    """The program-wide control group: members no campaign takes on."""
    return (
        Member.objects.annotate(
            b=Bucket(Value(config.program_salt, output_field=CharField()), F("pk"))
        )
        .filter(b__lt=holdout.threshold(config.program_control_percent))
        .values("pk")
    )


def _enroll(campaign: Campaign, first: CampaignStep, now: datetime, config) -> int:
    today = timezone.localdate(now)
    rows = trigger_rows(
        campaign,
        today=today,
        now=now,
        audience=audience_q(campaign, now, config, first),
    )
    source, params = rows.query.sql_with_params()
    bucket = holdout.bucket_sql("%s", "src.mid", connection.vendor)
    insert = "INSERT OR IGNORE INTO" if connection.vendor == "sqlite" else "INSERT INTO"
    conflict = "" if connection.vendor == "sqlite" else " ON CONFLICT DO NOTHING"
    sql = (
        f"{insert} campaigns_enrollment (campaign_id, member_id, occurrence, arm, "
        "bucket, status, step, trigger_at, enrolled_at) "
        "SELECT %s, s.mid, s.occ, CASE WHEN s.b < %s THEN %s ELSE %s END, s.b, "
        "%s, 1, s.trig, %s "
        f"FROM (SELECT src.mid, src.occ, src.trig, {bucket} AS b "
        f"FROM ({source}) src) s{conflict}"
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                campaign.pk,
                holdout.threshold(campaign.control_percent),
                Arm.CONTROL,
                Arm.TREATMENT,
                Enrollment.Status.RUNNING,
                adapt(now),
                campaign.salt,
                *params,
            ],
        )
        return max(cursor.rowcount, 0)


# --- 3. send ---------------------------------------------------------------------


def _due(campaign: Campaign, step: CampaignStep, now: datetime):
    due = Enrollment.objects.filter(
        campaign=campaign, status=Enrollment.Status.RUNNING, step=step.position
    )
    before = now - timedelta(days=step.delay_days)
    if step.position == 1:
        return due.filter(trigger_at__lte=before)
    return due.filter(last_step_at__lte=before)


def _send_step(
    campaign, step, last: bool, now: datetime, config
) -> tuple[int, int, int]:
    sent = ghosts = none = 0
    while True:
        chunk = list(
            _due(campaign, step, now)
            .order_by("pk")
            .values_list("pk", "member_id", "arm")[:CHUNK]
        )
        if not chunk:
            return sent, ghosts, none
        s, g, n = _send_chunk(campaign, step, chunk, now, config)
        sent, ghosts, none = sent + s, ghosts + g, none + n
        ids = [row[0] for row in chunk]
        moved = {"step": F("step") + 1, "last_step_at": now}
        if last:
            moved.update(status=Enrollment.Status.DONE, ended_at=now)
        Enrollment.objects.filter(pk__in=ids).update(**moved)


def _channel_for(member: Member, channels: list[str], used: dict, cap: int) -> str:
    for channel in channels:
        if channel in CONSENT_CHANNELS and not getattr(member, f"consent_{channel}"):
            continue
        if used.get((member.pk, channel), 0) >= cap:
            continue
        return channel
    return ""


def _send_chunk(campaign, step, chunk, now, config) -> tuple[int, int, int]:
    member_ids = [row[1] for row in chunk]
    members = Member.objects.in_bulk(member_ids)
    used = {
        (row["member_id"], row["channel"]): row["n"]
        for row in CampaignSend.objects.filter(
            member_id__in=member_ids, created_at__gte=now - timedelta(days=CAP_DAYS)
        )
        .exclude(channel="")
        .values("member_id", "channel")
        .annotate(n=Count("pk"))
    }
    channels = step.channel_list
    plan = []  # (enrollment id, member, arm, channel)
    for enrollment_id, member_id, arm in chunk:
        member = members[member_id]
        channel = _channel_for(member, channels, used, config.frequency_cap)
        plan.append((enrollment_id, member, arm, channel))
    treated = [p for p in plan if p[2] == Arm.TREATMENT and p[3]]
    offers = _offers(campaign, step, [(p[0], p[1]) for p in treated], now)
    messages = [
        OutgoingMessage(
            channel=channel,
            template_key=step.template_key,
            context=_context(member, channel, offers.get(enrollment_id)),
            member=member,
            kind=Message.Kind.MARKETING,
            dedupe_key=_dedupe(enrollment_id, step),
        )
        for enrollment_id, member, _arm, channel in treated
    ]
    ids = messages_queue_many(messages=messages).ids
    rows = []
    sent = ghosts = none = 0
    for enrollment_id, member, arm, channel in plan:
        offer = offers.get(enrollment_id) or {}
        if not channel:
            status, none = CampaignSend.Status.NO_CHANNEL, none + 1
        elif arm == Arm.CONTROL:
            status, ghosts = CampaignSend.Status.GHOST, ghosts + 1
        else:
            status, sent = CampaignSend.Status.QUEUED, sent + 1
        rows.append((
            enrollment_id, step.pk, campaign.pk, member.pk, arm, channel, status,
            ids.get(_dedupe(enrollment_id, step)), offer.get("code_id"),
            offer.get("voucher_id"), offer.get("points_n", 0), now,
        ))  # fmt: skip
    rows_copy(CampaignSend, SEND_COLUMNS, rows)
    return sent, ghosts, none


SEND_COLUMNS = (
    "enrollment_id", "step_id", "campaign_id", "member_id", "arm", "channel",
    "status", "message_id", "code_id", "voucher_id", "points", "created_at",
)  # fmt: skip


def _dedupe(enrollment_id: int, step: CampaignStep) -> str:
    return f"campaign:{enrollment_id}:{step.pk}"


def _offers(campaign, step, treated, now) -> dict[int, dict]:
    """The step's offer for each treated (enrollment id, member): a personal
    code (one bulk insert), a voucher or bonus points (each its own
    idempotent write, keyed by enrollment and step)."""
    if not step.offer or not treated:
        return {}
    until = now + timedelta(days=step.offer_days)
    expires = timezone.localtime(until).strftime("%d.%m.%Y")
    out: dict[int, dict] = {}
    if step.offer == CampaignStep.Offer.PROMOTION and step.promotion_id:
        codes = codes_personal(
            promotion=step.promotion,
            member_ids=[m.pk for _e, m in treated],
            batch=f"campaign-{campaign.pk}-{step.position}",
            valid_until=until,
        )
        for enrollment_id, member in treated:
            code = codes[member.pk]
            out[enrollment_id] = {
                "code": code.code, "code_id": code.pk, "offer": step.promotion.name,
                "expires": expires,
            }  # fmt: skip
    elif step.offer == CampaignStep.Offer.VOUCHER and step.reward_id:
        for enrollment_id, member in treated:
            voucher = voucher_issue(
                member=member, reward=step.reward,
                key=f"campaign:{enrollment_id}:{step.pk}",
                source=Voucher.Source.CAMPAIGN, valid_days=step.offer_days,
            )  # fmt: skip
            out[enrollment_id] = {
                "code": voucher.code, "voucher_id": voucher.pk,
                "offer": step.reward.name, "expires": expires,
            }  # fmt: skip
    elif step.offer == CampaignStep.Offer.POINTS and step.points:
        for enrollment_id, member in treated:
            points_bonus(
                member=member, points=step.points,
                key=f"campaign:{enrollment_id}:{step.pk}", reason="campaign_bonus",
                params={"campaign": campaign.pk, "name": campaign.name},
                lifetime_days=step.offer_days,
            )  # fmt: skip
            out[enrollment_id] = {
                "offer": str(step.points), "points_n": step.points, "expires": expires,
            }  # fmt: skip
    return out


def _context(member: Member, channel: str, offer: dict | None) -> dict:
    offer = offer or {}
    context = {
        "offer": offer.get("offer", ""),
        "code": offer.get("code", ""),
        "expires": offer.get("expires", ""),
        "link": getattr(settings, "REGULARS_APP_LINK", ""),
    }
    if channel in CONSENT_CHANNELS:
        context["unsubscribe"] = unsubscribe_url(member, channel)
    return context
