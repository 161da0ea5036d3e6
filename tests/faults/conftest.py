"""Private servers for the fault tests: each test starts its own, so it can stop and restart them
without touching the shared PostgreSQL and Redis every other test (and engineer) uses."""
from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("portico_services", REPO / "scripts" / "services.py")
services = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(services)  # scripts/ is no package; its server start-up code is reused as is


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own; stop() and start() keep its port (data is not persisted)."""

    def __init__(self, data_dir: Path, args: tuple[str, ...] = ()) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.data_dir = data_dir
        self.args = args
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.proc = services.redis_server_start(binary=self.binary, port=self.port, data_dir=self.data_dir,
                                                args=self.args)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed on this machine")
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this test process's Celery app (which queues the tasks) at another broker for a while."""
    from portal.celery import app

    saved = app.conf.broker_url, app.conf.result_backend

    def reset() -> None:
        from kombu import pools

        app.pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        # kombu keeps producer pools per broker URL process-wide; a closed one would be handed out
        # again once the original broker URL is restored ("Acquire on closed pool").
        pools.reset()
        app._local.__dict__.pop("backend", None)

    reset()
    app.conf.broker_url = app.conf.result_backend = url
    try:
        yield
    finally:
        reset()
        app.conf.broker_url, app.conf.result_backend = saved


def worker_start(*, broker: str, smtp_url: str, log_path: Path, name: str) -> subprocess.Popen:
    """A real Celery worker process on the given broker, sending e-mail to smtp_url."""
    import sys

    from django.conf import settings

    from tests.conftest import worker_env

    env = worker_env(REDIS_URL=broker, EMAIL_URL=smtp_url)
    out = open(log_path, "a")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", settings.CELERY_TASK_DEFAULT_QUEUE,
         "-n", f"{name}@%h"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


class SlowSmtpSink:
    """An SMTP server that takes `delay` seconds to accept each message and records it only if the
    client is still connected then (a client killed mid-DATA delivered nothing)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.messages: list[tuple[str, ...]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd handler hook
        import asyncio

        await asyncio.sleep(self.delay)
        transport = getattr(server, "transport", None)
        if transport is None or transport.is_closing():
            return "421 client gone"
        self.messages.append(tuple(address.lower() for address in envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def slow_smtp() -> Iterator[tuple[SlowSmtpSink, str]]:
    from aiosmtpd.controller import Controller

    sink = SlowSmtpSink(delay=0.05)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, f"smtp://127.0.0.1:{port}"
    controller.stop()


# --- A real production web process (gunicorn, DEBUG=false) and a browser for it -----------------

class WebServer:
    """`gunicorn portal.wsgi -c gunicorn.conf.py` on a free loopback port, with the production
    settings (DEBUG=false, a secret key of its own), on this run's database unless told otherwise."""

    def __init__(self, log_path: Path, *, workers: int = 1, threads: int = 4, **env: str) -> None:
        import secrets

        from tests.conftest import worker_env

        self.port = free_port()
        self.log_path = log_path
        self.env = worker_env(DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), LOG_LEVEL="INFO",
                              PORTICO_BASE_URL=f"http://localhost:{self.port}", GUNICORN_BIND=f"127.0.0.1:{self.port}",
                              GUNICORN_WORKERS=str(workers), GUNICORN_THREADS=str(threads), **env)
        self.proc: subprocess.Popen | None = None

    def start(self, *, timeout: float = 60) -> None:
        import sys
        import time

        import requests

        out = open(self.log_path, "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "portal.wsgi", "-c", "gunicorn.conf.py"],
                                     cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise WebServerExited(self.log())
            try:
                # /healthz needs the tenant routing and the database: the app is loaded when it answers.
                requests.get(f"http://127.0.0.1:{self.port}/healthz", headers={"Host": "localhost"}, timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout:g} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()[-5000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def browser(self, host: str) -> Browser:
        return Browser(self.port, host)


class WebServerExited(RuntimeError):
    """gunicorn exited instead of answering (its log is the message)."""


class Browser:
    """A requests session that talks to 127.0.0.1:port as `host` (cookies stay with 127.0.0.1)."""

    def __init__(self, port: int, host: str) -> None:
        import requests

        self.port, self.host = port, host
        self.session = requests.Session()
        self.session.trust_env = False

    def _headers(self) -> dict[str, str]:
        return {"Host": f"{self.host}:{self.port}"}

    def get(self, path: str, **kwargs):
        return self.session.get(f"http://127.0.0.1:{self.port}{path}", headers=self._headers(),
                                allow_redirects=False, timeout=30, **kwargs)

    def post(self, path: str, data: dict, **kwargs):
        return self.session.post(f"http://127.0.0.1:{self.port}{path}", data=data, headers=self._headers(),
                                 allow_redirects=False, timeout=30, **kwargs)

    def csrf_post(self, page_path: str, data: dict, *, post_path: str | None = None):
        """GET a page, then POST its form's CSRF token with `data`, as the browser would submit it."""
        import re

        page = self.get(page_path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, (page.status_code, page.text[:500])
        return self.post(post_path or page_path, {"csrfmiddlewaretoken": token.group(1), **data})

    def sign_in_start(self, email: str) -> tuple[str, dict[str, str]]:
        """/sso/login/ on this host, then the test IdP over HTTP: the ACS path and the fields its
        auto-posting form would send (not sent yet)."""
        from urllib.parse import urlsplit

        from tests.conftest import idp_sign_in

        start = self.get("/sso/login/?next=/")
        assert start.status_code == 302, (start.status_code, start.text[:500])
        acs_url, fields = idp_sign_in(start.headers["Location"], email)
        return urlsplit(acs_url).path, fields

    def acs_post(self, acs_path: str, fields: dict[str, str]):
        """The IdP's POST, and the same-site bounce Portico answers with (sso.acs), as a browser does."""
        from tests.conftest import form_fields

        response = self.post(acs_path, fields)
        if response.status_code == 200 and "portico_bounce" in response.text:
            _action, bounced = form_fields(response.text)
            response = self.post(acs_path, bounced)
        return response

    def sign_in(self, email: str):
        return self.acs_post(*self.sign_in_start(email))


@pytest.fixture
def web_servers() -> Iterator[list[WebServer]]:
    """Web servers a test starts go in this list and are stopped after it, whatever happened."""
    started: list[WebServer] = []
    yield started
    for server in started:
        server.stop()


# --- A private PostgreSQL cluster holding a copy of this run's database ------------------------

class PrivatePostgres:
    """initdb + pg_ctl on a free port (as the postgres user when root); stop()/start() keep the port
    and the data. `clone_from(url)` copies a database into it with pg_dump | psql."""

    def __init__(self, data_dir: Path) -> None:
        import os

        self.initdb, self.pg_ctl = services._pg_tool("initdb"), services._pg_tool("pg_ctl")
        self.port = free_port()
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data_dir.parent, "postgres")
            shutil.chown(data_dir, "postgres")
        subprocess.run(services._as_postgres_user([self.initdb, "-D", str(data_dir), "-U", "postgres",
                                                   "--auth=trust", "-E", "UTF8"]), check=True,
                       stdout=subprocess.DEVNULL)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(services._as_postgres_user([self.pg_ctl, "-D", str(self.data_dir), "-l",
                                                   str(self.data_dir / "server.log"), "-w", *args]),
                       check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -h 127.0.0.1 -k {self.data_dir}", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")  # ends every backend at once: what a crash or failover does to clients

    def clone_from(self, source_url: str, database: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        dump = subprocess.Popen([services._pg_tool("pg_dump") or "pg_dump", "--no-owner", source_url],
                                stdout=subprocess.PIPE)
        subprocess.run([services._pg_tool("psql") or "psql", "-q", "-v", "ON_ERROR_STOP=1", self.url(database)],
                       stdin=dump.stdout, check=True, stdout=subprocess.DEVNULL)
        assert dump.wait() == 0


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    import tempfile

    if not (services._pg_tool("initdb") and services._pg_tool("pg_ctl")):
        pytest.skip("PostgreSQL's server binaries are not installed on this machine")
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="portico-faults-pg-"))
    server = PrivatePostgres(root / "data")
    server.start()
    yield server
    try:
        server.stop()
    except subprocess.CalledProcessError:
        pass  # already stopped by the test
    shutil.rmtree(root, ignore_errors=True)


# --- A private PgBouncer in front of the run's PostgreSQL ------------------------------------------

class PrivatePgBouncer:
    """/usr/sbin/pgbouncer (as the postgres user when root: it refuses to run as root) on a free
    port, in the given pool mode, with a small pool so that clients share server connections."""

    def __init__(self, *, pool_mode: str, upstream_host: str, upstream_port: int, pool_size: int = 2) -> None:
        import os
        import tempfile

        self.binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="portico-faults-pgbouncer-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.config = self.dir / "pgbouncer.ini"
        self.config.write_text(f"""[databases]
* = host={upstream_host} port={upstream_port} user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = any
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = 200
server_round_robin = 0
ignore_startup_parameters = extra_float_digits,options
logfile = {self.dir / 'pgbouncer.log'}
pidfile = {self.dir / 'pgbouncer.pid'}
""")
        self.proc: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.proc = subprocess.Popen(services._as_postgres_user([self.binary, str(self.config)]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        services.wait_for_port(self.port, "PgBouncer")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pgbouncer_factory() -> Iterator:
    if not (shutil.which("pgbouncer") or Path("/usr/sbin/pgbouncer").exists()):
        pytest.skip("pgbouncer is not installed on this machine")
    started: list[PrivatePgBouncer] = []

    def start(pool_mode: str) -> PrivatePgBouncer:
        from django.db import connection

        s = connection.settings_dict
        bouncer = PrivatePgBouncer(pool_mode=pool_mode, upstream_host=s["HOST"] or "127.0.0.1",
                                   upstream_port=int(s["PORT"] or 5432))
        bouncer.start()
        started.append(bouncer)
        return bouncer

    yield start
    for bouncer in started:
        bouncer.stop()


def wait_until(condition, timeout: float = 60, interval: float = 0.1) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False
