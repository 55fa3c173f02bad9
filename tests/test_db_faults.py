"""Database faults over HTTP: every API path answers 503 ``service_unavailable``.

Never a 401 (a mobile app signs its user out on one) and never a 500. The
database is really unreachable here — the connection is dropped and the next
one goes to a closed port (PostgreSQL) or a file that cannot be opened
(SQLite) — so the error comes from the driver, through Django, the way an
outage does. On PostgreSQL a connection is also killed in the middle of a
request (``pg_terminate_backend`` from a second connection) and the POS
retries the same booking: one visit, one earn, one lot, a clean ledger.
"""

from __future__ import annotations

import contextlib
import logging
import socket

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.http import JsonResponse
from django.urls import path, reverse
from rest_framework.test import APIClient

from config.urls import urlpatterns as site_urlpatterns
from core import stamps
from members import access
from members.models import Member, Visit
from rewards.api import pos as pos_views
from rewards.models import LedgerEntry, PointLot
from rewards.verify import ledger_verify
from tests.rewards.conftest import assert_books_balance, program_defaults

__all__ = ["program_defaults"]  # a fixture, used by ``shipped_program``

pytestmark = pytest.mark.django_db(transaction=True)

POINTS = reverse("api-me-points")
VISITS = reverse("pos-visits")
OTP_REQUEST = reverse("api-otp-request")
MESSAGE = "The service is briefly unavailable. Try again in a few seconds."


@pytest.fixture(autouse=True)
def shipped_program(program_defaults):
    """Transactional tests empty the tables: put the tiers and settings back."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nobody listens once the socket closes


@contextlib.contextmanager
def database_unreachable():
    """Drop the connection; every new one fails until the block ends."""
    conn = connections[DEFAULT_DB_ALIAS]
    saved = dict(conn.settings_dict)
    kept = None
    if conn.vendor == "postgresql":
        conn.close()
        conn.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    else:
        # An in-memory SQLite database lives as long as a connection to it
        # (Django refuses to close one): keep it aside, put it back after.
        kept, conn.connection = conn.connection, None
        conn.settings_dict["NAME"] = "/nonexistent/dir/regulars.sqlite3"
    try:
        yield
    finally:
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)
        if kept is not None:
            conn.connection = kept


@pytest.fixture
def till(pos_api, location):
    return pos_api(location)


def booking(member, service, external_id="B-1") -> dict:
    return {
        "member_id": member.pk,
        "external_id": external_id,
        "lines": [{"service": service.code}],
    }


def assert_unavailable(response, message=MESSAGE) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "code": "service_unavailable",
        "message": message,
        "retry_after": 5,
    }


# --- The database is unreachable ---------------------------------------------


@pytest.fixture
def app(member_api, member):
    """The member's app, signed in while the database was up."""
    return member_api(member)


def test_a_signed_in_member_is_not_signed_out(app):
    # Given a member's valid token, when the database cannot be reached
    with database_unreachable():
        response = app.get(POINTS)

    # Then 503 to retry later, not the 401 that would sign the app out
    assert_unavailable(response)


def test_a_pos_booking_is_refused_for_now(till, member, service):
    with database_unreachable():
        response = till.post(VISITS, booking(member, service))

    assert_unavailable(response)


def test_an_anonymous_sign_in_request(api_client):
    with database_unreachable():
        response = api_client.post(OTP_REQUEST, {"phone": "+79161112233"})

    assert_unavailable(response)


def test_a_token_that_cannot_be_checked_is_never_invalid(api_client):
    # A well-formed token the database would refuse is not refused while the
    # database cannot say so
    unknown = access.TOKEN_PREFIX + "x" * 43
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {unknown}")

    with database_unreachable():
        response = api_client.get(POINTS)

    assert_unavailable(response)


def test_the_message_is_in_the_request_language(app):
    with database_unreachable():
        response = app.get(POINTS, HTTP_ACCEPT_LANGUAGE="ru")

    assert_unavailable(
        response, "Сервис ненадолго недоступен. Повторите через несколько секунд."
    )


def test_retry_after_is_a_setting(app, settings):
    settings.API_RETRY_AFTER_SECONDS = 30

    with database_unreachable():
        response = app.get(POINTS)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["retry_after"] == 30


def test_one_warning_line_and_no_traceback(app, caplog):
    with database_unreachable(), caplog.at_level(logging.INFO):
        app.get(POINTS)

    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname) for r in records] == [
        ("core.db_unavailable", "WARNING")
    ]
    assert "GET /api/v1/me/points answered 503: OperationalError" in (
        records[0].getMessage()
    )
    assert records[0].exc_info is None


def test_the_next_request_reconnects_once_the_database_is_back(
    app, member, till, service
):
    with database_unreachable():
        assert app.get(POINTS).status_code == 503
        assert till.post(VISITS, booking(member, service)).status_code == 503

    assert app.get(POINTS).status_code == 200
    assert till.post(VISITS, booking(member, service)).status_code == 201
    assert Visit.objects.filter(member=member).count() == 1


# --- Outside DRF views -------------------------------------------------------


def plain_view(request):
    """A non-DRF view under /api/ that reads the database."""
    return JsonResponse({"members": Member.objects.count()})


class QueryingMiddleware:
    """A middleware that reads the database before any view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.headers.get("X-Query-In-Middleware"):
            Member.objects.exists()
        return self.get_response(request)


urlpatterns = [path("api/v1/test-plain", plain_view), *site_urlpatterns]
handler500 = "config.views.server_error"


@pytest.mark.urls(__name__)
def test_a_plain_view_under_the_api():
    with database_unreachable():
        response = APIClient().get("/api/v1/test-plain")

    assert_unavailable(response)


@pytest.fixture
def querying_middleware(settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "tests.test_db_faults.QueryingMiddleware",
    ]


def test_a_middleware_under_the_api(querying_middleware, app):
    # The fault is raised outside any view: Django's 500 handling, still a 503
    app.raise_request_exception = False

    with database_unreachable():
        response = app.get(POINTS, HTTP_X_QUERY_IN_MIDDLEWARE="1")

    assert_unavailable(response)


def test_the_admin_keeps_its_500_page(querying_middleware, client):
    client.raise_request_exception = False

    with database_unreachable():
        response = client.get("/admin/", HTTP_X_QUERY_IN_MIDDLEWARE="1")

    assert response.status_code == 500
    assert "Retry-After" not in response


# --- A connection killed mid-request (PostgreSQL) ----------------------------

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: pg_terminate_backend kills a real connection",
)


def kill_own_connection() -> None:
    """Terminate this thread's backend from a second connection, and wait for it."""
    pid = connection.connection.info.backend_pid
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            # With a timeout, PostgreSQL 14+ waits until the backend is gone.
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            assert cursor.fetchone() == (True,)
    finally:
        other.close()


class KillBeforeCommit:
    """A visit reaction after all others: the checkout's last step before COMMIT."""

    armed = False

    def visit_recorded(self, event):
        if KillBeforeCommit.armed:
            KillBeforeCommit.armed = False
            kill_own_connection()

    def visit_reversed(self, event):
        pass


@pytest.fixture
def kill_before_commit(settings):
    settings.REGULARS_VISIT_REACTIONS = [
        *settings.REGULARS_VISIT_REACTIONS,
        "tests.test_db_faults.KillBeforeCommit",
    ]
    KillBeforeCommit.armed = True
    yield
    KillBeforeCommit.armed = False


@pytest.fixture
def kill_after_commit(monkeypatch):
    """The checkout commits, then the connection dies before the answer is sent.

    The view needs the database no more after the commit (the answer is kept
    with the visit), so the fault is this wrapper's next statement: the way a
    commit whose acknowledgement was lost looks to the client.
    """
    commit = pos_views.checkout_commit
    armed = [True]

    def checkout_commit(**kwargs):
        result = commit(**kwargs)
        if armed.pop() if armed else False:
            kill_own_connection()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        return result

    monkeypatch.setattr(pos_views, "checkout_commit", checkout_commit)


def assert_recorded_once(member, external_id="B-1") -> Visit:
    visit = Visit.objects.get(external_id=external_id)
    assert Visit.objects.filter(member=member).count() == 1
    earns = LedgerEntry.objects.filter(visit=visit, kind=LedgerEntry.Kind.EARN)
    assert earns.count() == 1
    assert PointLot.objects.filter(entry__in=earns).count() == 1
    assert_books_balance(member)
    report = ledger_verify()
    assert report.ok, report.problems
    return visit


@pytest.mark.postgres
@needs_postgres
def test_killed_before_the_commit_then_retried_records_one_visit(
    till, member, service, kill_before_commit
):
    # When the connection dies just before the checkout commits
    first = till.post(VISITS, booking(member, service))

    # Then 503, nothing recorded; the POS's retry records the visit once
    assert_unavailable(first)
    assert not Visit.objects.filter(external_id="B-1").exists()
    retry = till.post(VISITS, booking(member, service))
    assert retry.status_code == 201, retry.json()
    assert not retry.has_header("Idempotent-Replayed")
    assert_recorded_once(member)


@pytest.mark.postgres
@needs_postgres
def test_killed_after_the_commit_then_retried_answers_the_recorded_visit(
    till, member, service, kill_after_commit
):
    # When the visit commits but the connection dies before the answer
    first = till.post(VISITS, booking(member, service))

    # Then 503; the retry finds the visit and answers it as recorded
    assert_unavailable(first)
    retry = till.post(VISITS, booking(member, service))
    assert retry.status_code == 201, retry.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["points_earned"] > 0
    assert_recorded_once(member)


@pytest.mark.postgres
@needs_postgres
def test_killed_between_requests_the_app_is_never_signed_out(app):
    assert app.get(POINTS).status_code == 200

    kill_own_connection()
    answers = [app.get(POINTS) for _ in range(3)]

    # A health check may reconnect first; the test client skips it, so the
    # first request meets the dead connection. Either way: never 401 or 500.
    assert {a.status_code for a in answers} <= {200, 503}
    assert answers[-1].status_code == 200


def _request_starts() -> None:
    """What Django does as a request starts (the test client leaves it out),
    with a persistent connection as in production (CONN_MAX_AGE > 0)."""
    conn = connections[DEFAULT_DB_ALIAS]
    conn.close_at = None
    conn.close_if_unusable_or_obsolete()
    assert conn.connection is not None and not conn.health_check_done


@pytest.mark.postgres
@needs_postgres
def test_the_stamp_read_is_the_requests_connection_check(monkeypatch):
    # Given a reused connection at the start of a request
    stamps.current()
    _request_starts()
    checks = []
    monkeypatch.setattr(
        connections[DEFAULT_DB_ALIAS], "is_usable", lambda: checks.append(1) or True
    )

    # When the request reads the stamps first
    with stamps.scope():
        stamps.current()

    # Then no separate SELECT 1 ran before it
    assert checks == []


@pytest.mark.postgres
@needs_postgres
def test_a_connection_killed_between_requests_is_replaced_by_the_stamp_read():
    # Given a connection that died while idle between two requests
    stamps.current()
    pid = connection.connection.info.backend_pid
    kill_own_connection()
    _request_starts()

    # When the next request reads the stamps
    with stamps.scope():
        read = stamps.current()

    # Then it reads them on a new connection, no error reaches the request
    assert set(read) >= {stamps.CONFIG, stamps.CREDENTIALS}
    assert connection.connection.info.backend_pid != pid
