"""gunicorn settings for Regulars in production.

    gunicorn -c gunicorn.conf.py config.wsgi

Every value can be changed through the environment (below) or overridden on
the command line (a command-line flag wins over this file). The figures behind
the choices are in ``bench/README.md`` ("The APIs under HTTP load",
"Checkout pipeline (#11)").

| variable | default | meaning |
|---|---|---|
| ``BIND`` | ``0.0.0.0:$PORT`` | address(es) to listen on, comma-separated (``unix:/run/regulars.sock``) |
| ``PORT`` | ``8000`` | port, when ``BIND`` is not set |
| ``WEB_CONCURRENCY`` | 2 × cores + 1 | worker processes (``GUNICORN_WORKERS`` too) |
| ``GUNICORN_THREADS`` | ``1`` | threads per worker (> 1 switches to ``gthread``) |
| ``GUNICORN_TIMEOUT`` | ``30`` | seconds a request may take before its worker is killed |
| ``GUNICORN_GRACEFUL_TIMEOUT`` | ``30`` | seconds workers get to finish on restart/stop |
| ``GUNICORN_KEEPALIVE`` | ``5`` | seconds an idle keep-alive connection is kept (gthread) |
| ``GUNICORN_MAX_REQUESTS`` | ``20000`` | requests after which a worker is replaced (0: never) |
| ``GUNICORN_MAX_REQUESTS_JITTER`` | ``2000`` | random 0…N added per worker, so they don't all restart at once |
| ``GUNICORN_PRELOAD`` | ``true`` | import the app once in the master, then fork |
| ``FORWARDED_ALLOW_IPS`` | ``127.0.0.1,::1`` | proxies trusted for ``X-Forwarded-Proto`` (``*``: any) |
| ``GUNICORN_ACCESS_LOG`` | ``-`` (stdout) | access log file; empty to turn it off |
| ``GUNICORN_CONTROL_SOCKET`` | unset (off) | path of gunicorn's control socket (``gunicornc``) |
| ``LOG_LEVEL`` | ``info`` | gunicorn's own log level (Django's uses the same variable) |
"""

from __future__ import annotations

import os
import sys


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in {"1", "true", "yes", "on"}


def cores() -> int:
    """Cores this process may really use: CPU affinity, then a cgroup v2 quota.

    ``os.cpu_count()`` reports the host's cores; in a container limited to 2
    CPUs on a 32-core host it would start 65 workers.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()
        if quota != "max":
            n = min(n, max(1, -(-int(quota) // int(period))))  # rounded up
    except (OSError, ValueError):
        pass
    return max(1, n)


# --- Where to listen ------------------------------------------------------------

bind = [
    b.strip()
    for b in os.environ.get("BIND", f"0.0.0.0:{_env_int('PORT', 8000)}").split(",")
    if b.strip()
]
# Connections the kernel queues while every worker is busy (a burst from many
# tills at opening time); beyond it new connections are refused.
backlog = _env_int("GUNICORN_BACKLOG", 2048)

# --- Workers ----------------------------------------------------------------------

# Sync workers: one request at a time per process. The app is Django + DRF on
# PostgreSQL, and a request is mostly CPU in Python: GET me/points ~3 ms of
# CPU, POST pos/quote ~7 ms, POST pos/visits ~12 ms (bench/api_load.py),
# against a few ms spent waiting for the database (a handful to a dozen short
# statements and a commit). A sync worker
# leaves its core idle only while it waits for PostgreSQL, so what fills the
# cores is "cores / share of time not waiting" workers: 1.3-2× cores here.
# (2 × cores) + 1 covers that with room for a slow query or a database on
# another host (more waiting per request), and costs little when it is more
# than needed: ~100 MB of memory and one PostgreSQL connection per worker
# (CONN_MAX_AGE keeps them open). More workers do NOT add throughput to a
# CPU-bound app: past the point where the cores are busy they only queue
# inside the kernel instead of in gunicorn's backlog and stretch the p99. On
# the 2-core bench machine (PostgreSQL and the load generator on the same
# cores) 2, 3 and 5 workers gave the same throughput within the noise
# (me/points 472-490 req/s, pos/visits 123-137 req/s).
# So: size it with WEB_CONCURRENCY, not by raising it blindly, and keep
# workers × web hosts + Celery concurrency below PostgreSQL's
# max_connections (100 by default).
#
# Threads (gthread) do not help a CPU-bound Python app (one interpreter lock
# per process); they are there for slow clients without a proxy in front.
workers = _env_int("WEB_CONCURRENCY", _env_int("GUNICORN_WORKERS", 2 * cores() + 1))
threads = _env_int("GUNICORN_THREADS", 1)
worker_class = "gthread" if threads > 1 else "sync"

# The heartbeat file of each worker lives in memory: on a disk-backed /tmp
# (Docker's overlay) its fchmod can block a worker for seconds.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Replace each worker after ~20,000 requests (plus 0-2,000 at random, so they
# don't all restart at the same moment): a safety net against slow memory
# growth (the per-process caches are bounded: tokens and keys in a 50,000-entry
# LRU). Not lower: a replacement costs more than the fork that preload makes
# cheap — a new PostgreSQL connection and cold per-process caches (settings,
# tiers, the token cache). At 2,000, GET me/points on the bench machine lost
# 6-10 % of its throughput and its p99 went from 33-40 ms to 54-72 ms.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 2000)

# --- Timeouts -----------------------------------------------------------------------

# A request still running after 30 s has its worker killed (and the client
# gets a 502 from the proxy). The slowest interactive pages (admin lists on a
# million members) take well under a second; exports and batch jobs run in
# Celery, not in a request. Raise it only for a known long admin page.
timeout = _env_int("GUNICORN_TIMEOUT", 30)
# On a deploy (SIGHUP / SIGTERM) workers get this long to finish the request
# in hand; a checkout is one transaction, so a killed one is rolled back.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Sync workers close the connection after every response and ignore this;
# with gthread it is how long an idle keep-alive connection is kept. Behind a
# load balancer that pools connections, set it above the balancer's idle
# timeout, so the balancer never reuses a connection gunicorn just closed.
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)

# --- Loading the app before forking --------------------------------------------------

# preload: Django, DRF and the project are imported once in the master and
# the workers are forked from it: boot is faster, a broken deploy fails at
# once in the master instead of in a loop of dying workers, a max_requests
# replacement costs a fork instead of a re-import (~1 s of CPU), and the
# workers share the imported code's memory pages until they write to them.
# The price: SIGHUP no longer picks up new code (the master keeps the old
# import), so deploy by restarting the service, not by `kill -HUP`.
#
# A database connection must never be shared across fork (two processes
# speaking on one socket corrupt each other's sessions). Django opens
# connections lazily, at the first query, and nothing in the project queries
# at import time (``config.wsgi`` only runs ``django.setup()``); as a guard,
# ``pre_fork`` below closes any connection the master might have opened all
# the same, before every fork.
preload_app = _env_bool("GUNICORN_PRELOAD", True)

# --- Proxies ------------------------------------------------------------------------------

# Proxies whose X-Forwarded-Proto/-Protocol/-Ssl headers gunicorn believes
# (its wsgi.url_scheme); Django reads X-Forwarded-Proto itself
# (SECURE_PROXY_SSL_HEADER in config/settings/prod.py). Set it to the
# proxy's address, or "*" when only the proxy can reach gunicorn (a private
# network, a unix socket). The client IP for rate limits is API_NUM_PROXIES'
# business (README, "Configuration"), not gunicorn's.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# --- Logging --------------------------------------------------------------------------------

loglevel = os.environ.get("LOG_LEVEL", "info").lower()
errorlog = "-"
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# Combined log format with X-Forwarded-For after the peer's address (the
# client as the proxy saw it), then the request's time in ms (%(M)s) and the
# worker's pid ("<1234>").
access_log_format = (
    '%(h)s %({x-forwarded-for}i)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s '
    '"%(f)s" "%(a)s" %(M)sms %(p)s'
)

# --- Control socket --------------------------------------------------------------------------

# gunicorn ≥ 25 opens a control socket in $HOME by default; two instances
# under one user would fight over it. Off unless a path is given.
_control = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if _control:
    control_socket = _control
else:
    control_socket_disable = True

proc_name = "regulars"


_warm = False


def pre_fork(server, worker) -> None:
    """Before each fork, in the master: warm up once, then drop any connection.

    With preload, the URLconf (every view, serializer and admin module behind
    it) is imported here once instead of by each worker's first request, so a
    new or replaced worker answers at full speed at once (its first API
    request: 21 ms instead of 128 ms). Nothing
    in it queries; should anything open a database connection in the master
    all the same, it is closed before the fork, so no worker inherits it.
    """
    global _warm
    if "django" not in sys.modules:  # preload off: the workers load the app
        return
    if not _warm:
        _warm = True
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 - imports every view
    from django.db import connections

    connections.close_all()


def child_exit(server, worker) -> None:
    """With ``PROMETHEUS_MULTIPROC_DIR`` (several workers' metrics summed at
    each scrape), forget a worker that has gone (core.metrics)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
