"""Logs an operator can follow: a request id on every line (carried into the
Celery tasks the request enqueues), personal data masked, JSON in production
(``LOG_FORMAT``).

- ``RequestIdMiddleware`` takes the caller's ``X-Request-ID`` (a proxy's) or
  makes one, keeps it for the request and sends it back in the response.
- ``before_task_publish`` puts the current id in the task's headers and
  ``task_prerun`` restores it in the worker (``connect_celery``).
- ``RequestIdFilter`` and ``MaskFilter`` sit on the log handler: every record
  gets ``request_id``, and its message has phones, sign-in codes and tokens
  masked whatever the logger that wrote it.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str] = ContextVar("request_id", default="")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id() -> str:
    return _request_id.get()


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = given if _VALID_ID.match(given) else uuid.uuid4().hex
        token = _request_id.set(rid)
        request.request_id = rid
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[REQUEST_ID_HEADER] = rid
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


# Masking: what must never reach a log in clear.
_TOKEN = re.compile(r"\b(rg[mk]_)[A-Za-z0-9_\-]{6,}")
_PHONE = re.compile(r"(?<![\w])(\+?\d[\d\s()\-]{8,}\d)(?![\w])")
_CODE = re.compile(r"(?i)\b(code|otp|код)(\W{1,3})(\d{4,8})\b")


def _phone(match: re.Match) -> str:
    """A phone: "+" and 10–15 digits, or 11 digits from 7 or 8 (a Russian
    number written without "+"); dates, amounts and ids stay as they are."""
    text = match.group(1)
    digits = re.sub(r"\D", "", text)
    international = text.startswith("+") and 10 <= len(digits) <= 15
    national = len(digits) == 11 and digits[0] in "78"
    if not (international or national):
        return match.group(0)
    return "+" + "•" * (len(digits) - 2) + digits[-2:]


def mask(text: str) -> str:
    """``text`` with tokens, sign-in codes and phone numbers masked."""
    text = _TOKEN.sub(lambda m: m.group(1) + "•••", text)
    text = _CODE.sub(lambda m: m.group(1) + m.group(2) + "•" * len(m.group(3)), text)
    return _PHONE.sub(_phone, text)


class MaskFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


# --- Celery ---------------------------------------------------------------------


def _publish(headers=None, **kwargs) -> None:
    rid = _request_id.get()
    if rid and headers is not None:
        headers.setdefault("request_id", rid)


def _prerun(task=None, **kwargs) -> None:
    rid = getattr(task.request, "request_id", None) if task is not None else None
    if rid is None and task is not None:
        rid = (task.request.headers or {}).get("request_id")
    # An eager task (tests, a trial without a broker) keeps its caller's id.
    task._request_id_token = _request_id.set(
        rid or _request_id.get() or uuid.uuid4().hex
    )


def _postrun(task=None, **kwargs) -> None:
    token = getattr(task, "_request_id_token", None)
    if token is not None:
        _request_id.reset(token)
        task._request_id_token = None


def connect_celery() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_publish, dispatch_uid="request_id_publish")
    task_prerun.connect(_prerun, dispatch_uid="request_id_prerun")
    task_postrun.connect(_postrun, dispatch_uid="request_id_postrun")
