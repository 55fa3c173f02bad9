"""A real worker process consumes the configured broker: the round trip the
whole periodic-task setup depends on.

Works with whatever broker the settings take from the environment: kombu's
filesystem transport by default, Redis in CI.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from config.celery import app, ping

BASE_DIR = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture
def worker(tmp_path):
    """``celery -A config worker`` with the test settings, stopped afterwards."""
    log = tmp_path / "worker.log"
    # Tasks earlier tests queued (messages to deliver) would come first and
    # could outlast the ping's timeout: start from an empty queue.
    app.control.purge()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"pytest-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        print(log.read_text())  # shown by pytest when the test failed


def test_a_worker_answers_ping_through_the_broker(worker):
    result = ping.delay()

    assert result.get(timeout=30) == "pong"
    assert worker.poll() is None, "the worker died"
