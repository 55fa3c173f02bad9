"""Browser tests: the staff pages driven by a real Chromium through Playwright.

Django serves the pages from ``live_server`` (pytest-django), which needs
committed data: the tests are ``django_db(transaction=True)``. The browser is
Debian's ``chromium`` (``apt-get install chromium``), launched by Playwright for
Python; Playwright's own browser download is not used.

Without chromium or Playwright the tests are skipped with the reason, so a
laptop without them still runs the rest of the suite; with
``REGULARS_BROWSER_TESTS=required`` (CI) a missing browser fails them instead.

A failing test leaves a screenshot, the page's HTML and its URL and JavaScript
errors under ``$REGULARS_ARTIFACTS`` (default ``var/browser-failures/``).
``REGULARS_BROWSER_SNAPSHOTS=1`` also keeps the screenshots the tests take at
their main steps (``snapshot``), in ``var/browser-snapshots/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from members import roles
from tests.rewards.conftest import program_defaults

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    expect = sync_playwright = None

__all__ = ["program_defaults"]  # a fixture the tests use

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("REGULARS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
REQUIRED = os.environ.get("REGULARS_BROWSER_TESTS", "").lower() == "required"
ARTIFACTS = Path(
    os.environ.get("REGULARS_ARTIFACTS") or ROOT / "var" / "browser-failures"
)
SNAPSHOTS = ROOT / "var" / "browser-snapshots"
PASSWORD = "browser-test-password"
# Auto-waiting assertions give up after this long (ms): the pages answer in
# milliseconds, so only a real failure ever waits it out.
TIMEOUT = 10_000


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if sync_playwright is None:
        return "Playwright for Python is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="package")
def browser():
    """Debian's Chromium, one for all the browser tests."""
    missing = _missing()
    if missing:
        if REQUIRED:
            pytest.fail(
                f"REGULARS_BROWSER_TESTS=required, but {missing}", pytrace=False
            )
        pytest.skip(f"browser tests skipped: {missing}")
    # Playwright's sync API keeps an asyncio loop on this thread, and Django
    # refuses ORM calls from a thread with a running loop. The tests' own
    # queries are plain synchronous code, so allow them while the browser runs
    # (and only then: the rest of the suite keeps Django's check).
    env = pytest.MonkeyPatch()
    env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        expect.set_options(timeout=TIMEOUT)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        env.undo()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, for ``page`` to see a failure."""
    report = yield
    setattr(item, f"_report_{report.when}", report)
    return report


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:120]


def _save_failure(page, nodeid: str, js_errors: list[str]) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = ARTIFACTS / _artifact_name(nodeid)
    try:
        page.screenshot(path=f"{base}.png", full_page=True)
        Path(f"{base}.html").write_text(page.content(), encoding="utf-8")
    except Exception as exc:  # noqa: BLE001 - a broken page must not hide the failure
        js_errors = [*js_errors, f"(could not save the page: {exc})"]
    Path(f"{base}.txt").write_text(
        "\n".join([nodeid, f"URL: {page.url}", *js_errors]) + "\n", encoding="utf-8"
    )
    return base


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser tab (own cookies) on the live server, in English.

    ``page.goto("/admin/")`` is relative to the live server. JavaScript errors
    on any page fail the test.
    """
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(TIMEOUT)
    # No favicon to serve: answer the browser's request here, not with a 404
    # (and its warning) from Django.
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    tab = context.new_page()
    js_errors: list[str] = []
    tab.on("pageerror", lambda exc: js_errors.append(f"JavaScript error: {exc}"))
    try:
        yield tab
        reports = [
            getattr(request.node, f"_report_{w}", None) for w in ("setup", "call")
        ]
        if any(r is not None and r.failed for r in reports) or js_errors:
            saved = _save_failure(tab, request.node.nodeid, js_errors)
            print(f"\nbrowser: page saved as {saved}.png / .html / .txt")
        if js_errors:
            pytest.fail("\n".join(js_errors), pytrace=False)
    finally:
        context.close()


def snapshot(page, name: str) -> None:
    """A screenshot of a step worth looking at, kept with
    ``REGULARS_BROWSER_SNAPSHOTS=1`` (else nothing: the tests stay fast)."""
    if os.environ.get("REGULARS_BROWSER_SNAPSHOTS"):
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SNAPSHOTS / f"{name}.png", full_page=True)


# --- Staff, logged in through the admin's login form --------------------------


@pytest.fixture
def staff_user(staff_roles):
    """``staff_user(username, role)`` → a staff user of that role, password PASSWORD."""

    def make(username: str, role: str):
        user = get_user_model().objects.create_user(
            username=username, password=PASSWORD, is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


def log_in(page, user) -> None:
    """Log in as ``user`` through the admin's login form."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#user-tools")).to_contain_text(user.username)


@pytest.fixture
def desk(page, staff_user):
    """The page, logged in as a front desk ("Front desk" group)."""
    page.user = staff_user("desk", roles.FRONT_DESK)
    log_in(page, page.user)
    return page


@pytest.fixture
def manager(page, staff_user):
    """The page, logged in as a manager ("Manager" group)."""
    page.user = staff_user("olga", roles.MANAGER)
    log_in(page, page.user)
    return page
