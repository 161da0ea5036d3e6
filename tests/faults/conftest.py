"""Private servers for the fault tests: each test starts its own, so it can stop and restart them
without touching the shared PostgreSQL and Redis every other test (and engineer) uses."""
from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
from collections.abc import Iterator
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
