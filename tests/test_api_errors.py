"""Errors outside the views still answer JSON under /api/: never an HTML page."""

import pytest

pytestmark = pytest.mark.django_db


def test_an_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_a_host_not_served_is_a_json_400_under_the_api(client):
    response = client.get("/api/v1/me", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


def test_outside_the_api_errors_stay_html(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert "application/json" not in response["Content-Type"]


def test_a_crash_under_the_api_is_a_json_500(rf):
    from config.views import server_error

    response = server_error(rf.get("/api/v1/me"))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b'"server_error"' in response.content
