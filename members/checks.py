"""Deployment checks (``manage.py check --deploy``): how messages leave, and
the salt of the stored phone hashes.

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


@register(deploy=True)
def phone_hash_salt_check(app_configs, **kwargs):
    """PHONE_HASH_SALT falls back to SECRET_KEY: rotating the key would then
    silently change the salt, and no stored phone hash (erased members' phones,
    phone history) would match a returning number again."""
    salt = settings.PHONE_HASH_SALT
    if salt and salt != settings.SECRET_KEY:
        return []
    return [
        Warning(
            "PHONE_HASH_SALT is not set apart from SECRET_KEY: rotating SECRET_KEY "
            "would break every stored phone hash.",
            hint="Set PHONE_HASH_SALT to a long random value and never change it. "
            "A deployment that already stores hashes sets it to the current "
            "SECRET_KEY (its hashes were made with it), then rotates SECRET_KEY.",
            id="regulars.W003",
        )
    ]
