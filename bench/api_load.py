"""HTTP load on the two hot API paths, against gunicorn + PostgreSQL (+ Redis).

    DATABASE_URL=postgres://…/regulars_bench .venv/bin/python bench/api_load.py \\
        [--scenario points visits] [--seconds 30] [--connections 16] \\
        [--workers 3] [--threads 1] [--members 5000]

Needs ``wrk`` (Debian: ``apt-get install wrk``) and the scaled demo database
(``bench/seed_demo.sh`` then ``manage.py points_backfill``). The script

1. prepares credentials in that database: one POS key for a location, and
   member tokens for ``--members`` random members with a wallet (written to a
   temporary Lua file; every request picks one at random);
2. starts gunicorn with production settings (DEBUG off, throttling on with a
   Redis cache as in production, but with rates no benchmark reaches);
3. runs ``wrk --latency`` per scenario after a short warm-up:
   - ``points``: ``GET /api/v1/me/points`` as random members;
   - ``visits``: ``POST /api/v1/pos/visits``, a new booking each time
     (``external_id`` = run, wrk thread, counter) for a random member, 1–2
     random services;
4. prints requests/s, latency p50/p90/p99, non-2xx responses and socket errors,
   and how busy the machine was (load average, the CPU seconds gunicorn used).

wrk runs on the same 2 cores as gunicorn and PostgreSQL; its own CPU is small
(one thread per core, C), and the figures say so rather than hide it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

POINTS_LUA = """
local tokens = {%(tokens)s}
math.randomseed(os.time())
request = function()
  local t = tokens[math.random(#tokens)]
  return wrk.format("GET", "/api/v1/me/points", {["Authorization"] = "Bearer " .. t})
end
"""

VISITS_LUA = """
local members = {%(members)s}
local services = {%(services)s}
local run = "%(run)s"
local counter = 0
local thread_id = 0
local next_id = 0
setup = function(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end
init = function(args)
  -- the phase (warm-up, measured) keeps the two runs' booking ids apart
  run = run .. "-" .. (args[1] or "x")
  thread_id = tid
  math.randomseed(os.time() + thread_id * 7919)
end
request = function()
  counter = counter + 1
  local m = members[math.random(#members)]
  local lines = '{"service": ' .. services[math.random(#services)] .. '}'
  if math.random() < 0.4 then
    lines = lines .. ', {"service": ' .. services[math.random(#services)] .. '}'
  end
  local body = '{"member_id": ' .. m .. ', "external_id": "' .. run .. '-' ..
    thread_id .. '-' .. counter .. '", "lines": [' .. lines .. ']}'
  return wrk.format("POST", "/api/v1/pos/visits", {
    ["Content-Type"] = "application/json",
    ["X-Api-Key"] = "%(key)s",
  }, body)
end
"""


def prepare(members: int) -> dict:
    import django

    django.setup()
    from django.db.models import Max

    from members import access
    from members.models import Location, Member, Service
    from rewards.models import Wallet

    top = Member.objects.aggregate(m=Max("id"))["m"] or 0
    if not top:
        sys.exit("No members: run bench/seed_demo.sh and points_backfill first.")
    rnd = random.Random(42)
    wanted = set()
    while len(wanted) < members:
        wanted.add(rnd.randint(1, top))
    ids = list(
        Wallet.objects.filter(
            member_id__in=wanted, member__status=Member.Status.ACTIVE
        ).values_list("member_id", flat=True)
    )
    tokens = [
        access.token_issue(member=m, device="bench")[1]
        for m in Member.objects.filter(pk__in=ids)
    ]
    location = Location.objects.filter(is_active=True).order_by("pk").first()
    _key, raw_key = access.api_key_issue(location=location, name="bench")
    services = list(Service.objects.filter(is_active=True).values_list("pk", flat=True))
    return {"tokens": tokens, "members": ids, "key": raw_key, "services": services}


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"gunicorn did not answer {url}")


def probe(base: str, data: dict) -> None:
    """One request per scenario before the load: a wrong body or key shows here."""
    checks = [
        (
            "GET",
            "/api/v1/me/points",
            None,
            {"Authorization": f"Bearer {data['tokens'][0]}"},
        ),
        (
            "POST",
            "/api/v1/pos/visits",
            json.dumps(
                {
                    "member_id": data["members"][0],
                    "external_id": f"probe-{time.time()}",
                    "lines": [{"service": data["services"][0]}],
                }
            ).encode(),
            {"X-Api-Key": data["key"], "Content-Type": "application/json"},
        ),
    ]
    for method, path, body, headers in checks:
        req = urllib.request.Request(
            base + path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                print(f"probe {method} {path}: {resp.status}")
        except urllib.error.HTTPError as exc:
            sys.exit(f"probe {method} {path}: {exc.code} {exc.read()[:500]!r}")


def parse_wrk(out: str) -> dict:
    def latency(p: str) -> float | None:
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return None
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": int(total.group(1)) if total else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p90_ms": latency("90"),
        "p99_ms": latency("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sock.group(1).strip() if sock else "none",
    }


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def children(pid: int) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [pid, *(int(p) for p in out.split())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        nargs="+",
        default=["points", "visits"],
        choices=["points", "visits"],
    )
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to the PostgreSQL benchmark database.")

    data = prepare(args.members)
    run = f"bench{int(time.time())}"
    tmp = Path(tempfile.mkdtemp(prefix="regulars-api-load-"))
    (tmp / "points.lua").write_text(
        POINTS_LUA % {"tokens": ",".join(f'"{t}"' for t in data["tokens"])}
    )
    (tmp / "visits.lua").write_text(
        VISITS_LUA
        % {
            "members": ",".join(map(str, data["members"])),
            "services": ",".join(map(str, data["services"])),
            "run": run,
            "key": data["key"],
        }
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "SECRET_KEY": "bench-" + os.urandom(24).hex(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "CACHE_URL": os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/8"),
        "CELERY_BROKER_URL": os.environ.get(
            "CELERY_BROKER_URL", "redis://127.0.0.1:6379/9"
        ),
        "API_THROTTLE_MEMBER": "100000000/min",
        "API_THROTTLE_POS": "100000000/min",
        "LOG_LEVEL": "WARNING",
    }
    base = f"http://127.0.0.1:{args.port}"
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ],
        cwd=ROOT,
        env=env,
    )
    results = {}
    try:
        wait_up(f"{base}/healthz")
        if gunicorn.poll() is not None:
            sys.exit(
                f"gunicorn exited ({gunicorn.returncode}); is port {args.port} free?"
            )
        probe(base, data)
        for scenario in args.scenario:
            script = str(tmp / f"{scenario}.lua")
            wrk = ["wrk", "-t2", f"-c{args.connections}", "--latency", "-s", script]
            subprocess.run(
                [*wrk, f"-d{args.warmup}s", base, "--", "warmup"],
                capture_output=True,
                check=True,
            )
            pids = children(gunicorn.pid)
            cpu0, load0 = cpu_seconds(pids), os.getloadavg()[0]
            started = time.monotonic()
            out = subprocess.run(
                [*wrk, f"-d{args.seconds}s", base, "--", "measured"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            wall = time.monotonic() - started
            result = parse_wrk(out)
            result["gunicorn_cpu_per_request_ms"] = (
                round((cpu_seconds(pids) - cpu0) * 1000 / result["requests"], 2)
                if result["requests"]
                else None
            )
            result["gunicorn_cores_busy"] = round((cpu_seconds(pids) - cpu0) / wall, 2)
            result["load_avg_1m"] = round(os.getloadavg()[0], 2)
            result["load_avg_before"] = round(load0, 2)
            results[scenario] = result
            print(
                f"\n== {scenario}: {args.connections} connections, {args.seconds} s, "
                f"gunicorn {args.workers}×{args.threads}"
            )
            print(out.strip())
            print(json.dumps(result, indent=2))
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
