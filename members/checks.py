"""Deployment checks (``manage.py check --deploy``) for how messages leave.

Sign-in codes travel by SMS: in production they must not end in a log file,
and a webhook backend without its address or secret would fail every message.
"""

from django.conf import settings
from django.core.checks import Warning, register

LOG_BACKEND = "members.messaging.backends.LogBackend"
WEBHOOK_BACKEND = "members.messaging.backends.WebhookBackend"


@register(deploy=True)
def message_backends_check(app_configs, **kwargs):
    problems = []
    backends = settings.REGULARS_MESSAGE_BACKENDS
    for channel in ("sms", "push"):
        if backends.get(channel) == LOG_BACKEND:
            problems.append(
                Warning(
                    f"{channel.upper()} messages (sign-in codes among them) are only "
                    "written to the log.",
                    hint=f"Set MESSAGE_BACKEND_{channel.upper()}={WEBHOOK_BACKEND} "
                    "with MESSAGE_WEBHOOK_URL and MESSAGE_WEBHOOK_SECRET.",
                    id="regulars.W001",
                )
            )
    uses_webhook = WEBHOOK_BACKEND in backends.values()
    if uses_webhook and not (
        settings.MESSAGE_WEBHOOK_URL and settings.MESSAGE_WEBHOOK_SECRET
    ):
        problems.append(
            Warning(
                "The webhook message backend has no MESSAGE_WEBHOOK_URL or no "
                "MESSAGE_WEBHOOK_SECRET: every message it handles would fail.",
                id="regulars.W002",
            )
        )
    return problems
