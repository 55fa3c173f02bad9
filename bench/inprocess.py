"""CPU per request of the hot API paths, in-process, through Django's WSGI handler.

    DATABASE_URL=postgres://…/regulars_bench .venv/bin/python bench/inprocess.py \\
        [--scenario points quote visits] [-n 2000] [--members 500] [--profile N]

No HTTP server, no network client: each request is a WSGI environ handed to
``config.wsgi.application`` with production settings (DEBUG off, the Redis
cache, prepared statements), so the figure is what Django, DRF and our code
cost per request on top of the database round trips — the part that
``bench/api_load.py`` measures as "gunicorn CPU per request" plus the server's
own parsing. It prints, per scenario, the process CPU per request (mean and
p50 of the second half, the first half warms the caches), the wall time, and
the statements per request. ``--profile N`` prints cProfile's N most costly
functions by own time and cumulative time for each scenario.

A tool for finding where the time goes, not a throughput figure: the rates
that the issue's targets are about come from ``bench/api_load.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def environ_for(method: str, path: str, headers: dict, body: bytes = b"") -> dict:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "HTTP_HOST": "127.0.0.1",
    }
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = "application/json"
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario", nargs="+", default=["points", "quote", "visits"],
        choices=["points", "quote", "visits"],
    )  # fmt: skip
    parser.add_argument("-n", type=int, default=2000, help="requests per scenario")
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument(
        "--profile-out", metavar="FILE", help="also dump the profile (pstats) here"
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL demo database.")
    sys.path.insert(0, str(ROOT / "bench"))
    # Before django.setup(), which prepare() runs: the app's production settings.
    from api_load import prepare, production_env  # noqa: PLC0415

    os.environ.update(production_env())

    data = prepare(args.members)
    from django.db import connection  # noqa: PLC0415

    from config.wsgi import application  # noqa: PLC0415

    rnd = random.Random(7)
    run = os.urandom(4).hex()
    counter = iter(range(10**9))

    def request(scenario: str) -> dict:
        if scenario == "points":
            token = rnd.choice(data["tokens"])
            return environ_for(
                "GET", "/api/v1/me/points", {"Authorization": f"Bearer {token}"}
            )
        lines = [
            {"service": s} for s in rnd.sample(data["services"], rnd.randint(1, 2))
        ]
        body = {"member_id": rnd.choice(data["members"]), "lines": lines}
        path = "/api/v1/pos/quote"
        if scenario == "visits":
            body["external_id"] = f"inproc-{run}-{next(counter)}"
            path = "/api/v1/pos/visits"
        return environ_for(
            "POST", path, {"X-Api-Key": data["key"]}, json.dumps(body).encode()
        )

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    def call(env: dict) -> None:
        status = []
        body = application(env, lambda s, h, exc_info=None: status.append(s))
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
        if not status[0].startswith("2"):
            sys.exit(f"{env['PATH_INFO']}: {status[0]}")

    for scenario in args.scenario:
        envs = [request(scenario) for _ in range(args.n)]
        cpu, wall = [], []
        statements[0] = 0
        with connection.execute_wrapper(count):
            for env in envs:
                c0, w0 = time.process_time(), time.perf_counter()
                call(env)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
        half = args.n // 2
        print(
            f"{scenario:7} CPU/request mean {statistics.mean(cpu[half:]) * 1e3:.3f} ms"
            f" p50 {statistics.median(cpu[half:]) * 1e3:.3f} ms ·"
            f" wall p50 {statistics.median(wall[half:]) * 1e3:.3f} ms ·"
            f" statements/request {statements[0] / args.n:.2f}"
        )
        if args.profile:
            envs = [request(scenario) for _ in range(args.n)]
            profiler = cProfile.Profile()
            profiler.enable()
            for env in envs:
                call(env)
            profiler.disable()
            if args.profile_out:
                profiler.dump_stats(f"{args.profile_out}.{scenario}")
            for key in ("tottime", "cumulative"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(
                    args.profile
                )
                print(out.getvalue())


if __name__ == "__main__":
    main()
