"""What every endpoint of /api/v1/ shares: errors, pagination, throttles.

Errors are always JSON ``{"code", "message", "fields"?}``:

- ``code`` is stable (documented in the README's API section); clients branch on it.
- ``message`` is for people, in the request's language (``Accept-Language``).
- ``fields`` maps an input field to ``[{"code", "message"}]`` when the input
  was wrong. A request of the wrong shape (a serializer refused it) is
  ``invalid`` with the fields' own codes in ``fields``; a rule's refusal (a
  service refused it) is the rule's code, repeated in ``fields`` when it
  concerns one (docs/api.md, *Errors*).

Services raise Django's ``ValidationError`` with codes; the handler here turns
them into 400s (409 for conflicts) so views never build error bodies by hand.
A database that is down or dropped the connection is a 503
``service_unavailable`` with ``Retry-After`` (``core.db_unavailable``), never a
401 or a 500.
"""

from __future__ import annotations

import logging
import sys

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from core.db_unavailable import db_unavailable_response, is_db_unavailable
from core.throttling import WindowRateThrottle

logger = logging.getLogger(__name__)

# Set to "true" on the answer to a retry that an idempotency key or a booking
# id recognised: the first call's result, nothing done again (as Stripe does).
REPLAYED_HEADER = "Idempotent-Replayed"

# Service error codes that mean "this conflicts with what is already recorded".
CONFLICT_CODES = frozenset(
    {"external_id_conflict", "idempotency_key_reused", "refund_key_conflict"}
)


class ApiError(exceptions.APIException):
    """An error with a stable code, raised by views: ``ApiError(404, "x", msg)``."""

    def __init__(self, status_code: int, code: str, message, fields=None):
        self.status_code = status_code
        self.code = code
        self.fields = fields
        super().__init__(detail=message, code=code)


def error_body(code: str, message, fields: dict | None = None) -> dict:
    body = {"code": code, "message": str(message)}
    if fields:
        body["fields"] = fields
    return body


def _django_validation_fields(exc: DjangoValidationError) -> tuple[str, str, dict]:
    """(code, message, fields) of a service's ValidationError."""
    fields: dict[str, list[dict]] = {}
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            key = "non_field_errors" if name == "__all__" else name
            for err in errors:
                for message in err.messages:
                    fields.setdefault(key, []).append(
                        {"code": err.code or "invalid", "message": str(message)}
                    )
    else:
        for err in exc.error_list:
            for message in err.messages:
                fields.setdefault("non_field_errors", []).append(
                    {"code": err.code or "invalid", "message": str(message)}
                )
    first = next(iter(fields.values()))[0]
    only_general = list(fields) == ["non_field_errors"]
    return first["code"], first["message"], ({} if only_general else fields)


def _drf_fields(detail) -> dict:
    """DRF's nested ``ErrorDetail`` structure → ``{field: [{code, message}]}``."""
    out: dict[str, list[dict]] = {}

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list):
            if all(isinstance(v, exceptions.ErrorDetail) for v in value):
                for v in value:
                    out.setdefault(prefix or "non_field_errors", []).append(
                        {"code": v.code or "invalid", "message": str(v)}
                    )
            else:
                for i, v in enumerate(value):
                    walk(f"{prefix}.{i}" if prefix else str(i), v)
        elif isinstance(value, exceptions.ErrorDetail):
            out.setdefault(prefix or "non_field_errors", []).append(
                {"code": value.code or "invalid", "message": str(value)}
            )

    walk("", detail)
    return out


def exception_handler(exc, context):
    """DRF's exception handler, speaking our error format."""
    if is_db_unavailable(exc):
        # Never a 401: authentication queries the database too, and an app
        # signs its user out on a 401.
        return db_unavailable_response(context["request"], exc)
    if isinstance(exc, DjangoValidationError):
        code, message, fields = _django_validation_fields(exc)
        status_code = (
            status.HTTP_409_CONFLICT
            if code in CONFLICT_CODES
            else status.HTTP_400_BAD_REQUEST
        )
        return Response(error_body(code, message, fields), status=status_code)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return Response(
            error_body("not_found", _("Not found.")), status=status.HTTP_404_NOT_FOUND
        )
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, ApiError):
        response = Response(
            error_body(exc.code, exc.detail, exc.fields), status=exc.status_code
        )
        return response
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: config.views.server_error answers JSON
    if isinstance(exc, exceptions.ValidationError):
        # A serializer's refusal is about the request's shape: the answer's
        # code is ``invalid`` and each field's own code (``required``,
        # ``min_value``, ``invalid_code``…) is in ``fields``. A rule's
        # refusal (``voucher_expired``…) is a service's Django
        # ValidationError, answered above with the rule's code. Only an
        # error about the request as a whole, with no field to name
        # (``member_required``), keeps its own code.
        fields = _drf_fields(exc.detail)
        general = fields.pop("non_field_errors", None)
        errors = [e for errs in fields.values() for e in errs]
        if general:
            code, message = general[0]["code"], general[0]["message"]
        elif len(errors) == 1:
            code, message = "invalid", errors[0]["message"]
        else:
            code, message = "invalid", _("Some fields are not valid.")
        response.data = error_body(code, message, fields or None)
        return response
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    body = error_body(code, exc.detail if hasattr(exc, "detail") else exc)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["retry_after"] = int(exc.wait)
    response.data = body
    return response


def api_server_error(request, *args, **kwargs):
    """``handler500`` for API paths: a JSON body, never Django's HTML page.

    Django calls it while handling the exception, so a database fault raised
    outside any view (a middleware, URL resolution) is still the API's 503.
    """
    exc = sys.exc_info()[1]
    if is_db_unavailable(exc):
        return db_unavailable_response(request, exc)
    return JsonResponse(
        error_body("server_error", _("Something went wrong on our side.")),
        status=500,
    )


ERROR_SCHEMA = inline_serializer(
    name="Error",
    fields={
        "code": serializers.CharField(help_text="Stable error code."),
        "message": serializers.CharField(help_text="Human-readable message."),
        "fields": serializers.DictField(
            required=False,
            child=serializers.ListField(child=serializers.DictField()),
            help_text="Per-field errors: {field: [{code, message}]}.",
        ),
    },
)


def error_responses(*statuses: int) -> dict:
    """OpenAPI responses for the given error statuses, all in the error format.

    Every endpoint may also answer 503 ``service_unavailable`` (with
    ``Retry-After``) while the database is unreachable: listed everywhere.
    """
    return {
        s: OpenApiResponse(ERROR_SCHEMA, description=_ERROR_DESCRIPTIONS.get(s, ""))
        for s in (*statuses, 503)
    }


_ERROR_DESCRIPTIONS = {
    503: "The database is briefly unavailable: retry after `Retry-After` seconds.",
}


class Pagination(PageNumberPagination):
    """``?page=2&page_size=50``; at most 100 per page."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.page.paginator.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "results"],
            "properties": {
                "count": {"type": "integer"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }


# --- Throttles ----------------------------------------------------------------
# Rates live in settings (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]). They need a
# cache shared by all web processes in production (CACHE_URL=redis://…). The
# hot paths' throttles count per window in one round trip (core.throttling);
# sign-in keeps DRF's exact log (rare requests, strict limits).


class MemberThrottle(WindowRateThrottle):
    """Per signed-in member; anonymous callers by IP."""

    scope = "member"

    def get_cache_key(self, request, view):
        # The id, not ``request.user.member``: that would read the member row.
        member_id = getattr(request.user, "member_id", None)
        if member_id is not None:
            return self.cache_format % {"scope": self.scope, "ident": member_id}
        return self.cache_format % {
            "scope": "anon",
            "ident": self.get_ident(request),
        }


class PosThrottle(WindowRateThrottle):
    """Per POS API key."""

    scope = "pos"

    def get_cache_key(self, request, view):
        key = getattr(request.user, "api_key", None)
        ident = key.pk if key is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonThrottle(SimpleRateThrottle):
    scope = "anon"

    def get_cache_key(self, request, view):
        return self.cache_format % {
            "scope": self.scope,
            "ident": self.get_ident(request),
        }
