"""Load test: locust drives the production server (gunicorn, DEBUG=false) over many tenants.

    .venv/bin/python -m bench.load [--users 24] [--rate 12] [--duration 60] [--tenants 4] [--workers W]

Creates a throw-away database with N tenants (bench.acs.Stack: each trusts its own test IdP, has
returning members; here also a property), starts gunicorn, and runs locust headless for
`--duration` seconds (bench/locustfile.py): email discovery on the central host, SP-initiated
sign-ins (half just-in-time, half returning members; each session checked against /api/me; one in
ten replayed from another browser, which must be refused), page views and New User requests by
signed-in Client Administrators. `--rate` is the target of visitor actions per second over all
`--users` (locust's constant_throughput). Figures are read from locust's JSON output (its CSV trails
the final totals). Afterwards the database is checked for duplicate users and memberships.
Prints a table per request and one SUMMARY line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.acs import REPO, RETURNING_USERS, Stack

CHECKS = ("5xx", "lost session", "accepted replay")


def percentile(histogram: dict[str, int], p: float) -> float:
    """locust keeps response times as {rounded ms: count}."""
    total = sum(histogram.values())
    if not total:
        return float("nan")
    rank, seen = p / 100 * total, 0
    for ms, count in sorted((float(k), v) for k, v in histogram.items()):
        seen += count
        if seen >= rank:
            return ms
    return float("nan")


def _properties_create(stack: Stack) -> None:
    from django_tenants.utils import schema_context

    from provisioning.services import property_create

    for tenant in stack.tenants:
        with schema_context(tenant["tenant"].schema_name):
            tenant["property_pk"] = property_create(name="Load Tower", code="load-tower", actor="bench").pk


def _duplicates(stack: Stack) -> tuple[int, int]:
    from django.db import connection

    users = memberships = 0
    with connection.cursor() as cursor:
        for tenant in stack.tenants:
            schema = tenant["tenant"].schema_name
            cursor.execute(f'SELECT count(*) FROM (SELECT lower(email) FROM "{schema}".auth_user '
                           f"GROUP BY lower(email) HAVING count(*) > 1) d")
            users += cursor.fetchone()[0]
            cursor.execute(f'SELECT count(*) FROM (SELECT user_id FROM "{schema}".provisioning_membership '
                           f"GROUP BY user_id HAVING count(*) > 1) d")
            memberships += cursor.fetchone()[0]
    return users, memberships


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=24, help="concurrent simulated visitors")
    parser.add_argument("--rate", type=float, default=12.0, help="target visitor actions per second, all users")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=1)
    opts = parser.parse_args(argv)
    opts.duration = max(2, min(opts.duration, 600))
    workers = opts.workers or 2 * (os.cpu_count() or 2)
    with Stack(workers=workers, threads=opts.threads, tenants=opts.tenants) as stack, \
            tempfile.TemporaryDirectory(prefix="portico-load-") as scratch:
        _properties_create(stack)
        plan = Path(scratch) / "plan.json"
        plan.write_text(json.dumps({
            "port": stack.port, "run_id": stack.run_id, "returning_users": RETURNING_USERS,
            "per_user_rate": opts.rate / max(opts.users, 1),
            "tenants": [{"host": t["host"], "domain": t["domain"], "idp_base_url": t["idp"].base_url,
                         "key_pem": t["idp"].keypair.key_pem, "cert_pem": t["idp"].keypair.cert_pem,
                         "property_code": "load-tower", "property_pk": t["property_pk"]} for t in stack.tenants],
        }))
        stats_path = Path(scratch) / "stats.json"
        load_before = os.getloadavg()
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(REPO / "bench" / "locustfile.py"), "--headless",
             "-u", str(opts.users), "-r", str(opts.users), "-t", f"{opts.duration}s", "--stop-timeout", "10",
             "--host", f"http://127.0.0.1:{stack.port}", "--only-summary", "--json-file", str(stats_path.with_suffix("")),
             "--exit-code-on-error", "0", "--loglevel", "WARNING"],
            cwd=REPO, env=dict(os.environ, PORTICO_LOAD_PLAN=str(plan), PYTHONPATH=str(REPO)),
            capture_output=True, text=True, timeout=opts.duration + 120)
        wall = time.monotonic() - started
        load_after = os.getloadavg()
        if done.returncode != 0 or not stats_path.exists():
            raise RuntimeError(f"locust failed ({done.returncode}):\n{done.stderr[-3000:]}")
        entries = json.loads(stats_path.read_text())
        duplicate_users, duplicate_memberships = _duplicates(stack)
        server_log = stack.log_tail()

    requests = [e for e in entries if e["method"] not in ("CHECK", "ACTION")]
    actions = [e for e in entries if e["method"] == "ACTION"]
    checks = {name: sum(e["num_failures"] for e in entries if e["method"] == "CHECK" and e["name"] == name)
              for name in CHECKS}
    histogram: dict[str, int] = {}
    for entry in requests:
        for ms, count in entry["response_times"].items():
            histogram[ms] = histogram.get(ms, 0) + count
    total = sum(e["num_requests"] for e in requests)
    failures = sum(e["num_failures"] for e in requests)
    # /api/me is asked once after each sign-in that returned a session (and nowhere else)
    signins = sum(e["num_requests"] - e["num_failures"] for e in requests if e["name"] == "api/me")
    print(f"Load: gunicorn {workers} worker(s) x {opts.threads} thread(s), {opts.tenants} tenants, "
          f"{opts.users} locust users, target {opts.rate:g} actions/s, {opts.duration} s; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n")
    print(f"{'action or request':34}{'n':>7}{'fail':>6}{'per s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}")
    for entry in sorted(actions, key=lambda e: e["name"]) + sorted(requests, key=lambda e: e["name"]):
        label = f"[action] {entry['name']}" if entry["method"] == "ACTION" else entry["name"]
        print(f"{label:34}{entry['num_requests']:7}{entry['num_failures']:6}"
              f"{entry['num_requests'] / opts.duration:8.1f}{percentile(entry['response_times'], 50):8.0f}"
              f"{percentile(entry['response_times'], 95):8.0f}{percentile(entry['response_times'], 99):8.0f}")
    action_count = sum(e["num_requests"] for e in actions)
    result = {"actions_per_s": action_count / opts.duration, "requests": total,
              "requests_per_s": total / opts.duration, "signins_per_s": signins / opts.duration,
              "p50_ms": percentile(histogram, 50), "p95_ms": percentile(histogram, 95),
              "p99_ms": percentile(histogram, 99), "failures": failures, "errors_5xx": checks["5xx"],
              "lost_sessions": checks["lost session"], "accepted_replays": checks["accepted replay"],
              "duplicate_users": duplicate_users, "duplicate_memberships": duplicate_memberships,
              "load_before": load_before[0], "load_after": load_after[0], "wall_s": wall}
    if failures and "Traceback" in server_log:
        print(f"\nserver log (tail):\n{server_log[-1500:]}")
    print(f"\nSUMMARY load: {result['actions_per_s']:.1f} actions/s, {result['requests_per_s']:.1f} requests/s, "
          f"{result['signins_per_s']:.1f} sign-ins/s "
          f"for {opts.duration} s (target {opts.rate:g} actions/s, {opts.users} users, {opts.tenants} tenants); "
          f"p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms; "
          f"{failures} failed requests, {checks['5xx']} 5xx, {checks['lost session']} lost sessions, "
          f"{checks['accepted replay']} accepted replays, {duplicate_users} duplicate users, "
          f"{duplicate_memberships} duplicate memberships; load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
