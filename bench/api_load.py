"""HTTP load on the hot API paths, against gunicorn + PostgreSQL (+ Redis),
measured against this machine's pgbench so the figures mean the same anywhere.

    DATABASE_URL=postgres://…/regulars_bench .venv/bin/python bench/api_load.py \\
        [--scenario points quote visits] [--seconds 30] [--connections 16] \\
        [--workers 0] [--threads 1] [--members 5000] \\
        [--pgbench-tps N | --pgbench-scale 10 --pgbench-clients 4 --pgbench-seconds 20]

Needs ``wrk`` (Debian: ``apt-get install wrk``), ``pgbench`` (``postgresql-client``)
and the scaled demo database (``bench/seed_demo.sh`` then ``manage.py
points_backfill`` and ``run_daily_jobs``). The script

1. prepares credentials in that database: one POS key for a location, and
   member tokens for ``--members`` random members with a wallet (written to a
   temporary Lua file; every request picks one at random);
2. measures the machine: ``bench/pgbench.sh SCALE CLIENTS SECONDS`` (TPC-B in
   a throwaway database, default scale 10, 4 clients, 20 s) right before the
   HTTP scenarios, or takes the figure from ``--pgbench-tps`` and skips it;
3. starts gunicorn with the production config (``-c gunicorn.conf.py``, with
   ``--workers``/``--threads``/``--bind`` from this script's flags, access log
   to /dev/null) and production settings (DEBUG off, throttling on with a Redis
   cache as in production, but with rates no benchmark reaches);
4. runs ``wrk --latency`` per scenario after a short warm-up:
   - ``points``: ``GET /api/v1/me/points`` as random members;
   - ``quote``: ``POST /api/v1/pos/quote`` for a random member, 1–2 random
     services (the visit's body without ``external_id``; writes nothing);
   - ``visits``: ``POST /api/v1/pos/visits``, a new booking each time
     (``external_id`` = run, wrk thread, counter) for a random member, 1–2
     random services;
5. prints per scenario requests/s, latency p50/p90/p99, errors (non-2xx
   responses and socket errors), the ratio requests/s ÷ pgbench tps with the
   issue #11 target beside it, how busy the machine was (load average, the CPU
   seconds gunicorn used), and a summary table at the end.

The ratio is the figure to compare between machines: pgbench TPC-B is five
short statements and a commit, so it scales with the same CPU, memory and
fsync speed as the API's requests. wrk runs on the same cores as gunicorn and
PostgreSQL; its own CPU is small (one thread per core, C), and the figures say
so rather than hide it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
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

# Issue #11: requests/s as a share of pgbench TPC-B tps (scale 10, 4 clients)
# on the same machine, and latency / error bounds.
TARGETS = {
    "points": {"ratio": 0.22, "p99_ms": 30.0},
    "quote": {"ratio": 0.13},
    "visits": {"ratio": 0.07, "p99_ms": 100.0, "errors": 0},
}

POINTS_LUA = """
local tokens = {%(tokens)s}
math.randomseed(os.time())
request = function()
  local t = tokens[math.random(#tokens)]
  return wrk.format("GET", "/api/v1/me/points", {["Authorization"] = "Bearer " .. t})
end
-- wrk --latency prints p50/75/90/99 only: p95 from the same histogram
done = function(summary, latency, requests)
  io.write(string.format("p95 latency: %%.3fms\\n", latency:percentile(95) / 1000))
end
"""

# quote and visits: a random member, one service, a second one 40 % of the time.
CHECKOUT_LUA = """
local members = {%(members)s}
local services = {%(services)s}
local run = "%(run)s"
local path = "%(path)s"
local with_id = %(with_id)s
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
  local body = '{"member_id": ' .. m .. ', '
  if with_id then
    body = body .. '"external_id": "' .. run .. '-' .. thread_id .. '-' ..
      counter .. '", '
  end
  body = body .. '"lines": [' .. lines .. ']}'
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Api-Key"] = "%(key)s",
  }, body)
end
-- wrk --latency prints p50/75/90/99 only: p95 from the same histogram
done = function(summary, latency, requests)
  io.write(string.format("p95 latency: %%.3fms\\n", latency:percentile(95) / 1000))
end
"""

SCENARIOS = {
    "points": ("GET", "/api/v1/me/points"),
    "quote": ("POST", "/api/v1/pos/quote"),
    "visits": ("POST", "/api/v1/pos/visits"),
}


# --- The machine's yardstick --------------------------------------------------


def run_pgbench(scale: int, clients: int, seconds: int) -> float:
    """TPC-B tps of this machine's PostgreSQL, from ``bench/pgbench.sh``.

    Its output goes to stderr as it comes (pgbench -P progress lines); the
    ``tps = …`` line is the figure. Exits when pgbench fails or prints none.
    """
    print(
        f"==> bench/pgbench.sh {scale} {clients} {seconds}  "
        f"(load average before: {os.getloadavg()[0]:.2f})",
        flush=True,
    )
    proc = subprocess.run(
        [str(ROOT / "bench" / "pgbench.sh"), str(scale), str(clients), str(seconds)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    out = proc.stdout + proc.stderr
    tps = parse_pgbench_tps(out)
    if proc.returncode != 0 or tps is None:
        sys.stderr.write(out)
        sys.exit(f"bench/pgbench.sh failed (exit {proc.returncode}); see above.")
    latency = re.search(r"^latency average = ([\d.]+) ms", out, re.M)
    print(
        f"pgbench TPC-B scale {scale}, {clients} clients, {seconds} s: "
        f"{tps:,.0f} tps"
        + (f", latency average {latency.group(1)} ms" if latency else ""),
        flush=True,
    )
    return tps


def parse_pgbench_tps(out: str) -> float | None:
    """The ``tps = 3240.5 (without initial connection time)`` figure."""
    found = re.findall(r"^tps = ([\d.]+)", out, re.M)
    return float(found[-1]) if found else None


def pgbench_args(parser: argparse.ArgumentParser) -> None:
    """The pgbench flags, shared with ``bench/checkout_commit.py``."""
    group = parser.add_argument_group(
        "machine reference (pgbench TPC-B, bench/pgbench.sh)"
    )
    group.add_argument(
        "--pgbench-tps",
        type=float,
        help="use this tps (from an earlier bench/pgbench.sh run) instead of "
        "running pgbench",
    )
    group.add_argument("--pgbench-scale", type=int, default=10)
    group.add_argument("--pgbench-clients", type=int, default=4)
    group.add_argument("--pgbench-seconds", type=int, default=20)


def pgbench_tps(args: argparse.Namespace) -> float:
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"!! load average {load:.2f} on {os.cpu_count()} cores before the run: "
            "other work shares this machine, so pgbench and the benchmark compete "
            "with it, maybe not equally; compare ratios only from idle runs."
        )
    if args.pgbench_tps:
        print(f"pgbench tps given: {args.pgbench_tps:,.0f} (pgbench not run)")
        return args.pgbench_tps
    return run_pgbench(args.pgbench_scale, args.pgbench_clients, args.pgbench_seconds)


# --- Credentials and gunicorn -------------------------------------------------


def prepare(members: int) -> dict:
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Max

    from members import access
    from members.models import Location, Member, Service
    from rewards.models import Wallet

    top = Member.objects.aggregate(m=Max("id"))["m"] or 0
    if not top:
        sys.exit("No members: run bench/seed_demo.sh and points_backfill first.")
    rnd = random.Random(42)
    wanted = set()
    while len(wanted) < min(members, top):
        wanted.add(rnd.randint(1, top))
    ids = list(
        Wallet.objects.filter(
            member_id__in=wanted, member__status=Member.Status.ACTIVE
        ).values_list("member_id", flat=True)
    )
    if not ids:
        sys.exit("No active members with a wallet: run points_backfill first.")
    tokens = [
        access.token_issue(member=m, device="bench")[1]
        for m in Member.objects.filter(pk__in=ids)
    ]
    location = Location.objects.filter(is_active=True).order_by("pk").first()
    _key, raw_key = access.api_key_issue(location=location, name="bench")
    services = list(Service.objects.filter(is_active=True).values_list("pk", flat=True))
    size = Member.objects.count()
    connection.close()  # nothing of ours stays open during the load
    return {
        "tokens": tokens,
        "members": ids,
        "key": raw_key,
        "services": services,
        "database_members": size,
    }


def production_env(**extra: str) -> dict[str, str]:
    """The environment of the app under load: production settings (DEBUG off,
    Redis cache and throttling as in production) with rates no bench reaches."""
    return {
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
        **extra,
    }


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited ({proc.returncode}); is the port free?")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"gunicorn did not answer {url}")


def probe(base: str, data: dict) -> None:
    """One request per scenario before the load: a wrong body or key shows here."""
    pos = {"X-Api-Key": data["key"], "Content-Type": "application/json"}
    basket = {"member_id": data["members"][0], "lines": [{"service": data["services"][0]}]}  # fmt: skip
    checks = [
        (
            "GET",
            "/api/v1/me/points",
            None,
            {"Authorization": f"Bearer {data['tokens'][0]}"},
        ),
        ("POST", "/api/v1/pos/quote", json.dumps(basket).encode(), pos),
        (
            "POST",
            "/api/v1/pos/visits",
            json.dumps({**basket, "external_id": f"probe-{time.time()}"}).encode(),
            pos,
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


def gunicorn_command(args: argparse.Namespace) -> list[str]:
    """The production config, with this run's bind, workers and threads."""
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{args.port}",
        "--threads",
        str(args.threads),
        "--log-level",
        "warning",
        # Production logs every request; the line is formatted and written
        # here too, to a sink instead of the terminal.
        "--access-logfile",
        "/dev/null",
    ]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    return cmd


def conf_workers() -> int:
    """The worker count gunicorn.conf.py picks on this machine."""
    import runpy

    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"]


# --- wrk and the figures --------------------------------------------------------


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
    socket_errors = (
        sum(int(n) for n in re.findall(r"\d+", sock.group(1))) if sock else 0
    )
    return {
        "requests": int(total.group(1)) if total else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p90_ms": latency("90"),
        "p95_ms": (
            float(m.group(1))
            if (m := re.search(r"^p95 latency: ([\d.]+)ms$", out, re.M))
            else None
        ),
        "p99_ms": latency("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": socket_errors,
        "socket_errors_detail": sock.group(1).strip() if sock else "none",
        "errors": (int(non2xx.group(1)) if non2xx else 0) + socket_errors,
    }


def judge(scenario: str, result: dict) -> tuple[str, bool | None]:
    """The issue #11 target of a scenario as text, and whether it was met."""
    target = TARGETS.get(scenario)
    if not target:
        return "", None
    parts, met = [], True
    if "ratio" in target:
        parts.append(f"≥ {target['ratio']:.2f}")
        met &= result["ratio"] is not None and result["ratio"] >= target["ratio"]
    if "p99_ms" in target:
        parts.append(f"p99 ≤ {target['p99_ms']:.0f} ms")
        met &= result["p99_ms"] is not None and result["p99_ms"] <= target["p99_ms"]
    if "errors" in target:
        parts.append(f"{target['errors']} errors")
        met &= result["errors"] <= target["errors"]
    return ", ".join(parts), bool(met)


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def summary(results: dict, tps: float, args, data: dict, load: float) -> str:
    workers = args.workers or f"{conf_workers()} (gunicorn.conf.py's)"
    rows = [
        (
            "scenario",
            "req/s",
            "p50",
            "p99",
            "errors",
            "req/s ÷ tps",
            "target (#11)",
            "",
        )
    ]
    for scenario, r in results.items():
        met = r["target_met"]
        rows.append(
            (
                f"{SCENARIOS[scenario][0]} {SCENARIOS[scenario][1]}",
                f"{r['rps']:,.0f}",
                fmt_ms(r["p50_ms"]),
                fmt_ms(r["p99_ms"]),
                f"{r['errors']}",
                f"{r['ratio']:.3f}",
                r["target"],
                "met" if met else "missed" if met is not None else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"\n== Summary: {data['database_members']:,} members; pgbench {tps:,.0f} tps; "
        f"{args.connections} connections, {args.seconds} s each; "
        f"gunicorn workers {workers} × threads {args.threads}; "
        f"{os.cpu_count()} cores; load average {load:.2f} before pgbench, "
        + ", ".join(
            f"{r['load_avg_before']}→{r['load_avg_1m']}" for r in results.values()
        )
        + " during the scenarios; core-seconds that went to other work: "
        + ", ".join(
            f"{r['machine_core_seconds']['everything_else']:.1f}"
            for r in results.values()
        ),
    ]
    for i, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(w) if j == 0 or j >= 6 else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(row, widths, strict=True))
            )  # fmt: skip
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    erred = [s for s, r in results.items() if r["errors"]]
    if erred:
        lines.append(
            f"!! errors in {', '.join(erred)}: figures with errors are not valid."
        )
    return "\n".join(lines)


def cpu_seconds(pids: list[int], *, reaped_by: int | None = None) -> float:
    """CPU seconds used by ``pids``, plus those of the children ``reaped_by``
    has waited for (workers replaced by max_requests count too)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        if pid == reaped_by:  # cutime + cstime: its children that have exited
            total += (int(fields[13]) + int(fields[14])) / tick
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    ticks = [int(f) for f in Path("/proc/stat").read_text().split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def backend_pids() -> list[int]:
    """PostgreSQL backends connected to the benchmark database (gunicorn's)."""
    out = subprocess.run(
        [
            "psql",
            os.environ["DATABASE_URL"],
            "-Atc",
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [int(p) for p in out.split()]


def redis_pids() -> list[int]:
    """Local Redis servers (the throttle cache): their CPU is the bench's too."""
    out = subprocess.run(
        ["pgrep", "-x", "redis-server"], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children (wrk, once it ended)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
        default=["points", "quote", "visits"],
        choices=list(SCENARIOS),
    )
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="gunicorn workers (default 0: gunicorn.conf.py's, 2 × cores + 1, "
        "as production runs)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--json", help="also write the results here")
    pgbench_args(parser)
    args = parser.parse_args()
    workers = args.workers or conf_workers()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    if not args.pgbench_tps and not shutil.which("pgbench"):
        sys.exit("pgbench is needed (apt-get install postgresql-client), "
                 "or give --pgbench-tps")  # fmt: skip
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to the PostgreSQL benchmark database.")

    data = prepare(args.members)
    run = f"bench{int(time.time())}"
    tmp = Path(tempfile.mkdtemp(prefix="regulars-api-load-"))
    (tmp / "points.lua").write_text(
        POINTS_LUA % {"tokens": ",".join(f'"{t}"' for t in data["tokens"])}
    )
    for scenario, with_id in (("quote", "false"), ("visits", "true")):
        (tmp / f"{scenario}.lua").write_text(
            CHECKOUT_LUA
            % {
                "members": ",".join(map(str, data["members"])),
                "services": ",".join(map(str, data["services"])),
                "run": run,
                "key": data["key"],
                "path": SCENARIOS[scenario][1],
                "with_id": with_id,
            }
        )
    # The machine's reference right before the load, gunicorn not started yet.
    load_start = os.getloadavg()[0]
    tps = pgbench_tps(args)
    env = production_env()
    base = f"http://127.0.0.1:{args.port}"
    gunicorn = subprocess.Popen(gunicorn_command(args), cwd=ROOT, env=env)
    results = {}
    try:
        wait_up(f"{base}/healthz", gunicorn)
        probe(base, data)
        for scenario in args.scenario:
            script = str(tmp / f"{scenario}.lua")
            wrk = ["wrk", "-t2", f"-c{args.connections}", "--latency", "-s", script]
            subprocess.run(
                [*wrk, f"-d{args.warmup}s", base, "--", "warmup"],
                capture_output=True,
                check=True,
            )
            backends = backend_pids()
            db0 = {pid: cpu_seconds([pid]) for pid in backends}
            pids = children(gunicorn.pid)
            cpu0 = cpu_seconds(pids, reaped_by=gunicorn.pid)
            load0 = os.getloadavg()[0]
            redis = redis_pids()
            redis0 = cpu_seconds(redis)
            wrk0, machine0 = children_cpu(), machine_cpu()
            started = time.monotonic()
            out = subprocess.run(
                [*wrk, f"-d{args.seconds}s", base, "--", "measured"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            wall = time.monotonic() - started
            machine1, wrk_cpu = machine_cpu(), children_cpu() - wrk0
            redis_cpu = cpu_seconds(redis) - redis0
            # max_requests may have replaced workers meanwhile: the new ones
            # count, and the old ones' CPU went to the master's reaped total.
            cpu = cpu_seconds(children(gunicorn.pid), reaped_by=gunicorn.pid) - cpu0
            # Backends opened during the run count whole; closed ones are lost.
            db_cpu = sum(cpu_seconds([p]) - db0.get(p, 0.0) for p in backend_pids())
            busy = machine1[0] - machine0[0]
            others = busy - cpu - db_cpu - wrk_cpu - redis_cpu
            result = parse_wrk(out)
            result["ratio"] = result["rps"] / tps if tps else None
            result["target"], result["target_met"] = judge(scenario, result)
            result["gunicorn_cpu_per_request_ms"] = (
                round(cpu * 1000 / result["requests"], 2)
                if result["requests"]
                else None
            )
            result["gunicorn_cores_busy"] = round(cpu / wall, 2)
            result["machine_core_seconds"] = {
                "busy": round(busy, 1),
                "total": round(machine1[1] - machine0[1], 1),
                "gunicorn": round(cpu, 1),
                "postgresql_backends": round(db_cpu, 1),
                "wrk": round(wrk_cpu, 1),
                "redis": round(redis_cpu, 1),
                "everything_else": round(others, 1),
            }
            result["load_avg_1m"] = round(os.getloadavg()[0], 2)
            result["load_avg_before"] = round(load0, 2)
            results[scenario] = result
            method, path = SCENARIOS[scenario]
            print(
                f"\n== {scenario} ({method} {path}): {args.connections} connections, "
                f"{args.seconds} s, gunicorn {workers} workers × {args.threads}"
            )
            print(out.strip())
            verdict = {True: "met", False: "MISSED", None: ""}[result["target_met"]]
            print(
                f"-> {result['rps']:,.0f} req/s ÷ pgbench {tps:,.0f} tps = "
                f"{result['ratio']:.3f}; p50 {fmt_ms(result['p50_ms'])}, "
                f"p95 {fmt_ms(result['p95_ms'])}, "
                f"p99 {fmt_ms(result['p99_ms'])}; errors {result['errors']} "
                f"(non-2xx {result['non_2xx']}, socket "
                f"{result['socket_errors_detail']}); target {result['target']}: "
                f"{verdict}; gunicorn CPU {result['gunicorn_cpu_per_request_ms']} "
                f"ms/request, {result['gunicorn_cores_busy']} cores busy; "
                f"load average {result['load_avg_before']} → "
                f"{result['load_avg_1m']}"
            )
            m = result["machine_core_seconds"]
            print(
                f"   machine: {m['busy']:.0f} of {m['total']:.0f} core-seconds busy: "
                f"gunicorn {m['gunicorn']:.1f}, its PostgreSQL backends "
                f"{m['postgresql_backends']:.1f}, wrk {m['wrk']:.1f}, Redis "
                f"{m['redis']:.1f}, everything else {m['everything_else']:.1f} "
                "(other sessions, kernel network work: more than a few and other "
                "work on the machine skews the figures)"
            )
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    print(summary(results, tps, args, data, load_start))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "pgbench_tps": tps,
                    "load_avg_before_pgbench": round(load_start, 2),
                    "database_members": data["database_members"],
                    "connections": args.connections,
                    "seconds": args.seconds,
                    "workers": workers,
                    "threads": args.threads,
                    "scenarios": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
