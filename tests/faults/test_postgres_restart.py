"""PostgreSQL restarts under a real web process (gunicorn, production settings) on a private
PostgreSQL cluster this test starts with a copy of the run's database: a request in flight and
those during the outage get the clean 503 page, and the same web process serves the next ones."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest

from tests.conftest import _database_url_of_test_db
from tests.faults.conftest import WebServer
from tests.provisioning.factories import unique_email

pytestmark = pytest.mark.faults


def _clean_503(response) -> bool:
    return (response.status_code == 503 and response.headers.get("Retry-After") == "60"
            and "unavailable for a moment" in response.text and "Traceback" not in response.text)


def _waiting_for_lock(url: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone()[0]:
                return True
            time.sleep(0.1)
    return False


def test_a_postgres_restart_costs_the_requests_in_flight_a_503_and_the_web_process_carries_on(
        committed_db, private_postgres, web_servers, tmp_path):
    private_postgres.clone_from(_database_url_of_test_db(), "portico_restart")
    url = private_postgres.url("portico_restart")
    web = WebServer(tmp_path / "web.log", DATABASE_URL=url, threads=4)
    web_servers.append(web)
    web.start()

    person = unique_email("restart")
    browser = web.browser("acme.localhost")
    assert browser.sign_in(person).status_code == 302, web.log()
    # Every gunicorn thread opens its persistent connection (DB_CONN_MAX_AGE) before the restart.
    warm = [web.browser("acme.localhost") for _ in range(8)]
    for other in warm:
        other.session.cookies.update(browser.session.cookies)
    threads = [threading.Thread(target=other.get, args=("/api/me",)) for other in warm]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert browser.get("/api/me").status_code == 200

    # A request in flight: it waits on a lock in PostgreSQL when the server goes down under it.
    locker = psycopg.connect(url)
    locker.execute("LOCK TABLE acme.auth_user IN ACCESS EXCLUSIVE MODE")
    in_flight: dict = {}
    request = threading.Thread(target=lambda: in_flight.update(response=browser.get("/api/me")))
    request.start()
    assert _waiting_for_lock(url)
    private_postgres.stop()  # fast shutdown: every backend, the waiting request's too, is ended
    request.join(timeout=30)
    locker.close()
    assert _clean_503(in_flight["response"]), (in_flight["response"].status_code, in_flight["response"].text[:800],
                                               web.log())

    # While it is down: pages, the API and the sign-in page answer the 503 page, never a 500.
    for path in ("/api/me", "/", "/sso/login/?next=/"):
        down = browser.get(path)
        assert _clean_503(down), (path, down.status_code, down.text[:800])

    private_postgres.start()
    # The same process: stale connections are replaced (CONN_HEALTH_CHECKS), every thread serves again
    # in its tenant's schema (the search_path is set again on the new connection).
    for _ in range(12):
        me = browser.get("/api/me")
        assert me.status_code == 200 and person in me.text, (me.status_code, me.text[:500], web.log())
    assert web.browser("globex.localhost").sign_in(unique_email("after", "globex.example")).status_code == 302
    assert web.proc.poll() is None
