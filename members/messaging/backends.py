"""Channel backends: how a queued message leaves Regulars.

``settings.REGULARS_MESSAGE_BACKENDS`` maps a channel ("sms", "email", "push",
"in_app") to a dotted path of a class here (or anywhere). A backend's ``send``
returns the provider's id for the message, or raises:

- ``TemporaryDeliveryError`` — worth trying again later (a timeout, a refused
  connection, HTTP 408/429/5xx, an SMTP hiccup): the outbox retries with backoff;
- ``PermanentDeliveryError`` — trying again cannot help (a bad address, HTTP
  4xx, a backend that is not configured): the message fails at once.

Any other exception is treated as temporary (and logged with its traceback).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import time
from functools import lru_cache

import requests
from django.conf import settings
from django.core.mail import BadHeaderError, EmailMessage, get_connection
from django.core.mail.message import make_msgid
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A backend could not deliver a message."""


class TemporaryDeliveryError(DeliveryError):
    """Delivery may succeed if tried again later."""


class PermanentDeliveryError(DeliveryError):
    """Delivery will not succeed however often it is tried."""


class BaseBackend:
    """Delivers messages of one channel. Subclasses implement ``send``."""

    def send(self, message) -> str:
        """Deliver ``message`` (a ``members.models.Message``); the provider's id."""
        raise NotImplementedError


class LogBackend(BaseBackend):
    """Writes the message to the log and calls it sent: for development."""

    def send(self, message) -> str:
        logger.info(
            "[%s → %s] %s%s",
            message.channel,
            message.recipient or f"member {message.member_id}",
            f"{message.subject}: " if message.subject else "",
            message.body,
        )
        return f"log-{message.pk}"


class InAppBackend(BaseBackend):
    """Nothing to transmit: the row is the member's inbox. Sent = visible."""

    def send(self, message) -> str:
        if message.member_id is None:
            raise PermanentDeliveryError("an in-app message needs a member")
        return ""


class EmailBackend(BaseBackend):
    """Plain-text email through Django's EMAIL_BACKEND (SMTP in production).

    SMTP replies 5xx to the recipient (no such mailbox) fail the message; every
    other SMTP or network error is retried.
    """

    def send(self, message) -> str:
        if not message.recipient:
            raise PermanentDeliveryError("no email address")
        message_id = make_msgid(domain=_email_domain())
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.recipient],
            headers={
                "Message-ID": message_id,
                "X-Regulars-Message-Id": str(message.pk),
            },
            connection=get_connection(
                timeout=getattr(settings, "EMAIL_TIMEOUT", None)
                or settings.MESSAGE_WEBHOOK_TIMEOUT
            ),
        )
        try:
            email.send(fail_silently=False)
        except BadHeaderError as exc:
            raise PermanentDeliveryError(f"bad header: {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            error = f"recipient refused: {exc.recipients}"
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentDeliveryError(error) from exc
            raise TemporaryDeliveryError(error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return message_id


def _email_domain() -> str:
    sender = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)
    return sender[1].strip("> ") if len(sender) == 2 else "localhost"


class WebhookBackend(BaseBackend):
    """POSTs the message as signed JSON to ``MESSAGE_WEBHOOK_URL`` (SMS, push).

    The body (UTF-8 JSON)::

        {"id": 42, "channel": "sms", "to": "+79161234567", "subject": "",
         "body": "Your Regulars code: 123456. ...", "language": "en",
         "template": "otp_code", "member_id": 7}

    Headers: ``X-Regulars-Timestamp`` (Unix seconds) and
    ``X-Regulars-Signature: sha256=<hex>``, the HMAC-SHA256 with
    ``MESSAGE_WEBHOOK_SECRET`` as key of ``f"{timestamp}.{raw_body}"``.

    How a receiver verifies a request::

        raw = request.body                                # bytes, as received
        ts = request.headers["X-Regulars-Timestamp"]
        expected = "sha256=" + hmac.new(
            SECRET.encode(), ts.encode() + b"." + raw, hashlib.sha256
        ).hexdigest()
        ok = hmac.compare_digest(expected, request.headers["X-Regulars-Signature"])
        fresh = abs(time.time() - int(ts)) < 300         # refuse replays

    Sign the raw bytes, never re-serialised JSON. ``id`` is stable across
    retries: a receiver that saw it already should answer 2xx and not send
    again (delivery is at-least-once). A 2xx answer may carry ``{"id": "..."}``,
    kept as the provider's id. 408, 429, 5xx and network errors are retried;
    any other answer fails the message.
    """

    def send(self, message) -> str:
        url = settings.MESSAGE_WEBHOOK_URL
        secret = settings.MESSAGE_WEBHOOK_SECRET
        if not url:
            raise PermanentDeliveryError(
                "MESSAGE_WEBHOOK_URL is not set: the webhook backend has nowhere "
                "to send"
            )
        if not secret:
            raise PermanentDeliveryError(
                "MESSAGE_WEBHOOK_SECRET is not set: refusing to send unsigned"
            )
        raw = json.dumps(payload_of(message), ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Regulars-Timestamp": timestamp,
            "X-Regulars-Signature": signature(secret, timestamp, raw),
            "X-Regulars-Message-Id": str(message.pk),
        }
        try:
            response = requests.post(
                url,
                data=raw,
                headers=headers,
                timeout=settings.MESSAGE_WEBHOOK_TIMEOUT,
                allow_redirects=False,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TemporaryDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        except requests.RequestException as exc:  # a malformed URL and the like
            raise PermanentDeliveryError(f"{type(exc).__name__}: {exc}") from exc

        status = response.status_code
        if 200 <= status < 300:
            return _provider_id(response)
        error = f"HTTP {status}: {response.text[:500]}"
        if status in (408, 429) or status >= 500:
            raise TemporaryDeliveryError(error)
        raise PermanentDeliveryError(error)


def payload_of(message) -> dict:
    """The JSON the webhook receives for ``message``."""
    return {
        "id": message.pk,
        "channel": message.channel,
        "to": message.recipient,
        "subject": message.subject,
        "body": message.body,
        "language": message.language,
        "template": message.template_key,
        "member_id": message.member_id,
    }


def signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{raw_body}")>``."""
    digest = hmac.new(
        secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256
    ).hexdigest()
    return f"sha256={digest}"


def _provider_id(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    return str(data.get("id", "")) if isinstance(data, dict) else ""


@lru_cache(maxsize=16)
def _backend(path: str) -> BaseBackend:
    return import_string(path)()


def backend_for(channel: str) -> BaseBackend:
    """The configured backend of ``channel`` (REGULARS_MESSAGE_BACKENDS)."""
    try:
        path = settings.REGULARS_MESSAGE_BACKENDS[channel]
    except KeyError as exc:
        raise PermanentDeliveryError(f"no backend for channel {channel!r}") from exc
    return _backend(path)
