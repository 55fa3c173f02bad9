"""A database that is down, or dropped a connection, answers the API with a 503.

A mobile app signs its user out on a 401 and reports a crash on a 500; neither
is true when the database blinked. Every path under ``/api/`` then answers 503
``service_unavailable`` with ``Retry-After`` instead, and the client retries: a
POS that sends the same booking again (same ``external_id``) records one visit,
since the checkout is idempotent by that id and either committed or did not.

Three places give that answer, all through ``db_unavailable_response``:

- DRF views, where authentication and the first queries run:
  ``members.api.common.exception_handler``;
- other views under ``/api/`` and the rendering of their responses:
  ``DatabaseUnavailableMiddleware.process_exception``;
- anything else Django would turn into a 500 under ``/api/`` (another
  middleware, URL resolution): the API's 500 handler
  (``members.api.common.api_server_error``) asks ``is_db_unavailable`` about the
  exception being handled.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
CODE = "service_unavailable"


def is_db_unavailable(exc: BaseException | None) -> bool:
    """Is ``exc`` a database that could not be reached or lost its connection?

    Django wraps the driver's errors in its own classes; the driver's are
    accepted too, for code that talks to the raw connection. OperationalError
    also covers a lock or statement timeout and a deadlock — transient as well,
    so a retry is the right answer to those too.
    """
    return isinstance(exc, _unavailable_types())


def _unavailable_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [OperationalError, InterfaceError]
    for conn in connections.all():
        types += [conn.Database.OperationalError, conn.Database.InterfaceError]
    return tuple(types)


def db_unavailable_response(request: HttpRequest, exc: BaseException) -> JsonResponse:
    """503 ``service_unavailable`` with ``Retry-After``, in the API's error format.

    Logs one warning line (no traceback: an outage would flood the log with
    identical ones) and drops the connections the error left unusable, so the
    next request reconnects.
    """
    _discard_broken_connections()
    detail = str(exc).strip().splitlines()
    logger.warning(
        "Database unavailable, %s %s answered 503: %s: %s",
        request.method,
        request.path,
        exc.__class__.__name__,
        detail[0] if detail else "",
    )
    seconds = settings.API_RETRY_AFTER_SECONDS
    response = JsonResponse(
        {
            "code": CODE,
            "message": _(
                "The service is briefly unavailable. Try again in a few seconds."
            ),
            "retry_after": seconds,
        },
        status=503,
    )
    response["Retry-After"] = str(seconds)
    # Logged above: django.request would add an error line (with the traceback
    # when the fault came through the 500 handler) for each of these.
    response._has_been_logged = True
    return response


def _discard_broken_connections() -> None:
    """Close the connections a fault left unusable (CONN_HEALTH_CHECKS-style).

    Django does the same when the request finishes (``close_old_connections``
    on ``request_finished``); doing it here does not depend on that signal (the
    test client turns it off), and nothing later in this request reuses the
    broken connection. A connection inside an atomic block is left to that
    block, which rolls back or drops it as it exits.
    """
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


class DatabaseUnavailableMiddleware:
    """A database fault in a non-DRF view under ``/api/``: the API's 503.

    Other paths keep Django's own handling (the admin shows its 500 page).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith(API_PREFIX) and is_db_unavailable(exception):
            return db_unavailable_response(request, exception)
        return None
