"""Prepare the database and the demo tenant, then run every process Portico needs (honcho).

Started by scripts/dev after scripts/services.py has found or started PostgreSQL and Redis.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".devdata"
PY = sys.executable


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def run(*args: str) -> None:
    subprocess.run([PY, *args], cwd=REPO, check=True)


def main() -> int:
    busy = [port for port in (8000, 8010, 1025) if not port_free(port)]
    if busy:
        print(f"!! ports {busy} are in use; stop whatever listens there (an earlier scripts/dev?) and retry.")
        return 1
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("PORTICO_METADATA_ALLOW_PRIVATE", "true")  # the test IdP lives on localhost
    os.environ.setdefault("EMAIL_URL", "smtp://127.0.0.1:1025")  # the mail process prints every e-mail
    os.environ.setdefault("PORTICO_SUPPORT_EMAILS", "support@portico.localhost")
    STATE.mkdir(exist_ok=True)
    print("==> migrating the public and tenant schemas")
    run("manage.py", "portal_setup")
    metadata = STATE / "testidp" / "metadata.xml"
    run("-m", "testidp", "--base-url", "http://localhost:8010", "--state-dir", str(STATE / "testidp"),
        "--write-metadata", str(metadata))
    run("manage.py", "demo_setup", "--idp-metadata", str(metadata))
    print("==> starting web, worker, beat, test IdP and mail; the URLs follow once the portal answers", flush=True)
    procs = subprocess.Popen([PY, "-m", "honcho", "-f", "Procfile.dev", "start"], cwd=REPO,
                             env={**os.environ, "PATH": f"{Path(PY).parent}:{os.environ.get('PATH', '')}"})
    try:
        if wait_until_answering(procs, ["http://localhost:8000/healthz", "http://localhost:8010/idp/metadata"]):
            time.sleep(1)  # let the processes' own start-up lines come out first: the banner is the last thing
            print(BANNER, flush=True)
        return procs.wait()
    except KeyboardInterrupt:  # honcho got the Ctrl-C too and stops its processes
        return procs.wait()


BANNER = """
==> Portico is running. Open:
      http://localhost:8000/            central sign-in (try an address @demo.example)
      http://demo.localhost:8000/       the demo tenant (Sign-on URL: /sso/login/)
      http://localhost:8000/admin/      support staff: user 'support', password 'portico-demo', then the
                                        code of TOTP secret KBXXE5DJMNXS2ZDFNVXS233ONR4SCIJB in an
                                        authenticator app, or from: .venv/bin/python -m portal.demo
      http://localhost:8010/idp/metadata  the local test IdP (sign in with any @demo.example address)
    Sent e-mail is printed by the 'mail' process. Ctrl-C stops everything."""


def wait_until_answering(procs: subprocess.Popen, urls: list[str], *, timeout: float = 180) -> bool:
    """True once every URL answers 200; False if the processes stopped or it took too long."""
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        if procs.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(pending[0], timeout=2) as response:
                if response.status == 200:
                    pending.pop(0)
                    continue
        except OSError:
            pass
        time.sleep(0.5)
    if pending:
        print(f"!! {pending[0]} did not answer within {timeout:.0f}s; see the processes' output above.", flush=True)
    return not pending


if __name__ == "__main__":
    sys.exit(main())
