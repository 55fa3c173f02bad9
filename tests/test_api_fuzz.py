"""Schema-driven fuzzing of the whole API: no input makes it answer 500.

Schemathesis reads our OpenAPI schema and generates requests for every
operation — valid ones and broken ones (wrong types, missing fields, huge
strings, odd unicode). Each request carries a live member token and a live POS
key, so the fuzz reaches the code behind authentication, not just the 401s.
Every answer must be below 500, JSON, and in our error format when it is an
error.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from members import access
from tests.factories import LocationFactory, MemberFactory, ServiceFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

# Examples per operation: enough to reach the validation branches of each
# endpoint, small enough for CI (the whole run takes well under a minute).
MAX_EXAMPLES = 25


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Schemathesis calls the WSGI app directly, and Django closes the database
    connection when a request ends — the test's own connection, inside its
    transaction. Keep it open for the test's duration."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(db):
    location = LocationFactory()
    ServiceFactory()
    member = MemberFactory()
    _token, raw_token = access.token_issue(member=member)
    _key, raw_key = access.api_key_issue(location=location)
    return {"Authorization": f"Bearer {raw_token}", "X-Api-Key": raw_key}


@pytest.mark.django_db(transaction=False)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_input_makes_the_api_fail(case, credentials):
    headers = dict(case.headers or {})
    # The generated Authorization header (if any) is replaced by live ones.
    headers.update(credentials)
    response = case.call(headers=headers)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} → {response.status_code}: "
        f"{response.text[:500]}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("code"), str), body
        assert isinstance(body.get("message"), str), body
