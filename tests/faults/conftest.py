"""Private servers for the fault tests: each test starts its own, so it can stop and restart them
without touching the shared PostgreSQL and Redis every other test (and engineer) uses."""
from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
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
