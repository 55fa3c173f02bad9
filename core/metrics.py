"""Prometheus metrics at ``/metrics``, for the operator's monitoring.

Protected: without ``METRICS_TOKEN`` set the path does not exist (404); with
it, the scraper sends ``Authorization: Bearer <METRICS_TOKEN>`` (else 401).

Two kinds of figures:
- request latency per route, method and status, timed by
  ``MetricsMiddleware`` in each web process (set ``PROMETHEUS_MULTIPROC_DIR``
  when gunicorn runs several workers, so that one scrape sums them all);
- the program's own figures, read from the database at each scrape by the
  functions of ``REGULARS_METRICS`` (each app lists its own: visits today,
  points issued and redeemed, the outbox, the daily jobs, webhooks), so every
  process and every replica answers the same.
"""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)

_PROCESS = CollectorRegistry(auto_describe=True)
REQUEST_SECONDS = Histogram(
    "regulars_http_request_seconds",
    "Time to answer a request, by route, method and status.",
    ["route", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=_PROCESS,
)


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.route if match else "") or "unmatched"
        REQUEST_SECONDS.labels(
            route, request.method, str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response


class ProgramCollector:
    """The figures of ``REGULARS_METRICS``, read at each scrape."""

    def collect(self):
        for path in settings.REGULARS_METRICS:
            yield from import_string(path)()


def metrics_view(request):
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    given = request.headers.get("Authorization", "")
    if not constant_time_compare(given, f"Bearer {token}"):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = "Bearer"
        return response
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
    registry.register(ProgramCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
