"""bench.tenants runs end to end with a tiny count and reports every figure (no timing assertions)."""
import subprocess
import sys

from tests.conftest import REPO, worker_env


def test_the_tenants_benchmark_runs_in_a_database_of_its_own_and_prints_a_summary(committed_db):
    env = worker_env()
    done = subprocess.run([sys.executable, "-m", "bench.tenants", "--count", "3", "--baseline-tenants", "1",
                           "--routing-samples", "5", "--quiet"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for words in ("1. Tenant creation", "2. No-op migration pass", "3. Routing", "upstream, any host",
                  "Portico, cached host, same schema", "SUMMARY tenants=3"):
        assert words in out
    bench_db = env["DATABASE_URL"].rsplit("/", 1)[1] + "_bench"
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [bench_db]).fetchone()[0] == 0
