"""The home's links and alerts: the dashboards a user may open, and what
needs attention, each with a link to its list (``analytics.home`` puts
them on the page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from analytics.dashboards import dashboards_for
from analytics.db import reading
from members.models import Message
from referrals.models import Referral
from rewards.models import JobRun
from rewards.selectors.program import day_start

VIEW_MESSAGES = "members.view_message"
VIEW_HELD_REFERRALS = "referrals.view_heldreferral"
VIEW_JOB_RUNS = "rewards.view_jobrun"
VIEW_CAMPAIGNS = "campaigns.view_campaign"

# Alerts look back this far: an old failure nobody fixed is not "today".
ALERT_DAYS = 7
JOB_ALERT_DAYS = 30


# --- Links ----------------------------------------------------------------------


def url_or_none(name: str, *, query: dict | None = None, **kwargs) -> str | None:
    """The URL named ``name``, or None when it is not (yet) installed: a
    missing page must not break the home."""
    try:
        url = reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(query)}" if query else url


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    description: str = ""


def home_dashboards(user) -> list[Link]:
    """The dashboards ``user`` may open, with the URLs that resolve."""
    links = []
    for entry in dashboards_for(user):
        url = url_or_none("analytics:dashboard", key=entry.key)
        if url:
            links.append(Link(entry.title, url, entry.description))
    return links


# --- Alerts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    key: str
    label: str
    count: int
    url: str | None


def home_alerts(user, *, now: datetime, program=None) -> list[Alert]:
    """What needs attention, each alert for those who may open its list:
    a count (one query each) and a link to the list filtered on it."""
    db, today, alerts = reading(), timezone.localdate(now), []
    if user.has_perm(VIEW_MESSAGES):
        since = day_start(today - timedelta(days=ALERT_DAYS))
        failed = Message.objects.using(db).filter(status=Message.Status.FAILED)
        # The bounds of the list's own "Past 7 days" filter, written as it
        # writes them (``DateFieldListFilter``), so that it shows as chosen.
        query = {
            "status__exact": Message.Status.FAILED,
            "created_at__gte": str(since),
            "created_at__lt": str(day_start(today + timedelta(days=1))),
        }
        alerts.append(Alert(
            "failed_messages",
            _("Messages that failed in the last %(days)d days") % {"days": ALERT_DAYS},
            failed.filter(created_at__gte=since).count(),
            url_or_none("admin:members_message_changelist", query=query),
        ))  # fmt: skip
    if user.has_perm(VIEW_HELD_REFERRALS):
        held = Referral.objects.using(db).filter(status=Referral.Status.HELD)
        alerts.append(Alert(
            "held_referrals",
            _("Referrals awaiting review"),
            held.count(),
            url_or_none("admin:referrals_heldreferral_changelist"),
        ))  # fmt: skip
    if user.has_perm(VIEW_JOB_RUNS):
        since = today - timedelta(days=JOB_ALERT_DAYS)
        failed = JobRun.objects.using(db).filter(status=JobRun.Status.FAILED)
        query = {"status__exact": JobRun.Status.FAILED}
        alerts.append(Alert(
            "failed_jobs",
            _("Failed daily jobs in the last %(days)d days")
            % {"days": JOB_ALERT_DAYS},
            failed.filter(business_date__gte=since).count(),
            url_or_none("admin:rewards_jobrun_changelist", query=query),
        ))  # fmt: skip
    if program is not None and user.has_perm(VIEW_CAMPAIGNS):
        rows, _result = program
        alerts.append(Alert(
            "campaigns_without_data",
            _("Campaigns without enough data yet"),
            sum(1 for _campaign, result in rows if not result.enough_data),
            url_or_none("admin:campaigns_campaign_program"),
        ))  # fmt: skip
    return alerts
