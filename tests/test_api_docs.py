"""/api/docs/ loads Swagger UI from this server's static files, never a CDN, so
the docs work offline: under runserver (dev) and under production settings
after ``collectstatic``, where WhiteNoise serves the hashed copies."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from tests.test_settings import PROD, SETTINGS_ENV, random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
# The page's scripts, stylesheets and icon: every <script src> and <link href>.
ASSETS = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]*)"')

# Fetches the docs page and each asset it names through the whole middleware
# stack (WhiteNoise included), as a browser on runserver or gunicorn would
# (the asset pattern is its first argument).
FETCH = """
import json, re, sys, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])
page = client.get("/api/docs/", secure=True)
html = page.content.decode()
assets = {}
for url in re.findall(sys.argv[1], html):
    got = client.get(url, secure=True)
    body = b"".join(got.streaming_content) if got.streaming else got.content
    assets[url] = [got.status_code, len(body)]
print(json.dumps({"status": page.status_code, "html": html, "assets": assets}))
"""


def test_the_docs_page_names_only_local_static_files(client):
    # When the docs page is opened
    response = client.get("/api/docs/")

    # Then Swagger UI's script, styles and icon are our /static/ files
    assert response.status_code == 200
    html = response.content.decode()
    urls = ASSETS.findall(html)
    assert len(urls) == 4, urls  # favicon, CSS, bundle, standalone preset
    for url in urls:
        assert url.startswith(f"/{settings.STATIC_URL.strip('/')}/"), url
        assert "//" not in url, url
        # ... which the static finders have (what runserver's WhiteNoise serves)
        assert finders.find(url.removeprefix("/static/")), url
    # And nothing else on the page points at another host (no CDN, no online
    # validator badge, which would send the schema's URL to swagger.io)
    assert re.search(r"https?://|//[a-z0-9-]+\.[a-z]", html, re.I) is None
    assert '"validatorUrl": null' in html


@pytest.fixture
def run(tmp_path):
    """Run Python with only the given settings env, in a var dir of its own."""

    def run(*args, **env_vars):
        env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
        env["REGULARS_VAR_DIR"] = str(tmp_path / "var")
        env.update(env_vars)
        done = subprocess.run(
            [sys.executable, *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    return run


def test_runserver_serves_the_docs_assets(run):
    # Given the dev settings (runserver: DEBUG on, WhiteNoise reads the apps'
    # static folders), when the docs page and its assets are fetched
    got = json.loads(
        run("-c", FETCH, ASSETS.pattern, DJANGO_SETTINGS_MODULE="config.settings.dev")
    )

    # Then each is served from the app
    assert got["status"] == 200
    assert len(got["assets"]) == 4
    for url, (status, size) in got["assets"].items():
        assert url.startswith("/static/drf_spectacular_sidecar/swagger-ui-dist/")
        assert (status, size > 0) == (200, True), url


def test_production_serves_the_collected_docs_assets(run, tmp_path):
    # Given production settings and collectstatic into STATIC_ROOT
    env = {
        **PROD,
        "SECRET_KEY": random_secret_key(),
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    run("manage.py", "collectstatic", "--noinput", "-v0", **env)

    # When the docs page and its assets are fetched (DEBUG off: WhiteNoise
    # serves only what was collected)
    got = json.loads(run("-c", FETCH, ASSETS.pattern, **env))

    # Then the page names the hashed copies, and each is served
    assert got["status"] == 200
    assert len(got["assets"]) == 4
    for url, (status, size) in got["assets"].items():
        assert re.search(r"\.[0-9a-f]{12}\.(js|css|png)$", url), url
        assert (status, size > 0) == (200, True), url
        assert (tmp_path / "static" / url.removeprefix("/static/")).is_file()
    assert "https://" not in got["html"] and "http://" not in got["html"]
