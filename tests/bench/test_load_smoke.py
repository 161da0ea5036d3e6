"""bench.load runs end to end for a few seconds against a real gunicorn and counts no error (no
timing assertions: the figures are for people, docs/performance.md)."""
import re
import subprocess
import sys

from tests.conftest import REPO, worker_env


def test_the_load_test_runs_locust_against_gunicorn_and_counts_zero_errors(committed_db):
    done = subprocess.run([sys.executable, "-m", "bench.load", "--users", "3", "--rate", "3", "--duration", "4",
                           "--tenants", "1", "--workers", "1"],
                          cwd=REPO, env=worker_env(), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = [line for line in done.stdout.splitlines() if line.startswith("SUMMARY load:")]
    assert len(summary) == 1, done.stdout[-3000:]
    assert re.search(r"; 0 failed requests, 0 5xx, 0 lost sessions, 0 accepted replays, 0 duplicate users, "
                     r"0 duplicate memberships;", summary[0]), done.stdout[-3000:]
    for request in ("central page", "discovery", "sso login", "acs", "api/me"):
        assert re.search(rf"^{re.escape(request)}\s+[1-9]", done.stdout, re.MULTILINE), (request, done.stdout)
