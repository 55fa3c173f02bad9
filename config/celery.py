"""The Celery app, and the periodic schedule defined in code.

``BEAT_SCHEDULE`` is the source of truth for what runs when; the command
``manage.py sync_beat_schedule`` writes it into django-celery-beat's tables
(idempotently, keeping an operator's enable/disable choice), where the
DatabaseScheduler reads it and operators can see and pause each job in the admin.
"""

import logging
import os

from celery import Celery
from celery.schedules import crontab

from core.observability import connect_celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("regulars")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A task logs under the id of the request that enqueued it.
connect_celery()


class _FilesystemBrokerHostFilter(logging.Filter):
    """Drop kombu's "No hostname was supplied" while the broker is a folder.

    kombu logs it whenever it builds a connection from a URL without a host, and
    ``filesystem://`` has none: the filesystem transport has no server to reach,
    so the line was noise on every management command and every task sent. With
    another transport it stays: there a URL without its host is worth a word.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.getMessage().startswith("No hostname was supplied")
            and str(app.conf.broker_url or "").startswith("filesystem:")
        )


logging.getLogger("kombu.connection").addFilter(_FilesystemBrokerHostFilter())

# name -> task, schedule, optional kwargs and a description for the operator.
BEAT_SCHEDULE: dict[str, dict] = {
    "core: purge expired records": {
        "task": "core.tasks.retention_purge_task",
        "schedule": crontab(hour=4, minute=50),
        "description": "Nightly deletion of what is kept only for a while: sign-in "
        "codes, finished messages, job records, staff sign-ins, erased members' "
        "leftovers (RETENTION_*_DAYS).",
    },
    "members: reconcile cached member stats": {
        "task": "members.tasks.member_stats_reconcile_task",
        "schedule": crontab(hour=3, minute=30),
        "description": "Nightly check that every member's cached visit stats match "
        "their paid visits; repairs any drift.",
    },
    "rewards: daily jobs": {
        "task": "rewards.tasks.daily_jobs_task",
        "schedule": crontab(hour=0, minute=10),
        "description": "Just after midnight (business time): activate pending "
        "points, expire points (and inactivity burn), expire vouchers, review "
        "tiers, issue monthly tier perks on the 1st, queue expiry notices. "
        "Catches up missed dates in order; a second run changes nothing.",
    },
    "members: deliver due messages": {
        "task": "members.messaging.tasks.messages_deliver_due_task",
        "schedule": crontab(minute="*"),
        "description": "Every minute: send queued messages that are due (retries "
        "after backoff, messages held back by quiet hours, any whose delivery "
        "task was lost). Each message is claimed first, so none goes out twice.",
    },
    "imports: delete old import files": {
        "task": "imports.tasks.import_files_clean",
        "schedule": crontab(hour=4, minute=40),
        "description": "Nightly: delete the uploaded files and reports of imports "
        "older than IMPORTS_KEEP_DAYS (the list of imports keeps their figures), "
        "and put back any foreign keys an import that died had set aside.",
    },
    "campaigns: refresh member scores": {
        "task": "campaigns.tasks.scores_refresh_task",
        "schedule": crontab(hour=2, minute=40),
        "description": "Nightly: recompute every member's scores for today "
        "(RFM quintiles, 12-month visits and spend, top-spend percent, main "
        "location, favourite specialist) that segments read. Set-based; a "
        "second run writes nothing.",
    },
    "campaigns: count segments": {
        "task": "campaigns.tasks.segments_recount_task",
        "schedule": crontab(hour=3, minute=10),
        "description": "Nightly, after the scores: count each segment's members "
        "for the segment list (the editor counts live).",
    },
    "campaigns: run journeys and sends": {
        "task": "campaigns.tasks.campaigns_run_task",
        "schedule": crontab(minute="*/5"),
        "description": "Every five minutes: end chains a visit ended, enroll "
        "whom each live campaign's trigger found (the holdout split included), "
        "send the due steps. Idempotent: nothing is sent twice; catches up "
        "after downtime. Campaign settings' switch pauses it all.",
    },
    "webhooks: deliver due events": {
        "task": "webhooks.tasks.webhooks_deliver_due_task",
        "schedule": crontab(minute="*"),
        "description": "Every minute: send due webhook deliveries (retries after "
        "backoff, any whose kick was lost) and disable endpoints failing for "
        "days. Each delivery is claimed first, so none goes out twice.",
    },
    "webhooks: prune old deliveries": {
        "task": "webhooks.tasks.webhooks_prune_task",
        "schedule": crontab(hour=4, minute=20),
        "description": "Nightly: delete delivered and given-up webhook deliveries "
        "and their events older than WEBHOOKS_KEEP_DAYS.",
    },
    "analytics: refresh today": {
        "task": "analytics.tasks.analytics_refresh_today_task",
        "schedule": crontab(minute=5),
        "description": "Hourly: recompute today's analytics figures (visits, "
        "money, new members, points) so the home page and dashboards are at "
        "most an hour behind. Replaces today's rows; safe to re-run.",
    },
    "analytics: refresh yesterday": {
        "task": "analytics.tasks.analytics_refresh_nightly_task",
        "schedule": crontab(hour=1, minute=30),
        "description": "Nightly, after the points expiry: recompute yesterday's "
        "analytics, the days its cancellations, refunds and expiries changed, "
        "the open 30-day retention windows and the cohorts. Safe to re-run; "
        "`manage.py analytics_refresh --date D` does it for a past date.",
    },
}


@app.task(name="regulars.ping")
def ping() -> str:
    """Answer 'pong': the round trip that proves a worker consumes the broker."""
    return "pong"
