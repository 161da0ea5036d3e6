"""A real PgBouncer in front of the run's PostgreSQL, a real gunicorn behind it: in session mode
many interleaved requests of two tenants each see only their own rows; in transaction mode Portico
finds out for itself and refuses to start, even when the operator declared session mode."""
from __future__ import annotations

import random
import threading

import pytest

from tests.conftest import _database_url_of_test_db
from tests.faults.conftest import WebServer, WebServerExited
from tests.provisioning.factories import unique_email

pytestmark = pytest.mark.faults


def _test_db_name() -> str:
    return _database_url_of_test_db().rsplit("/", 1)[1]


def test_through_pgbouncer_in_session_mode_no_tenant_sees_another_tenants_rows(
        committed_db, pgbouncer_factory, web_servers, tmp_path):
    bouncer = pgbouncer_factory("session")
    # Two gunicorn workers of four threads, a new client connection per request (DB_CONN_MAX_AGE=0),
    # two server connections: every request's connection was some other request's just before.
    web = WebServer(tmp_path / "web.log", DATABASE_URL=bouncer.url(_test_db_name()),
                    PORTICO_DB_POOLER="pgbouncer-session", DB_CONN_MAX_AGE="0", workers=2, threads=4)
    web_servers.append(web)
    web.start()
    people = []
    for slug in ("acme", "globex", "acme", "globex"):
        email = unique_email(f"bouncer-{slug}", f"{slug}.example")
        browser = web.browser(f"{slug}.localhost")
        assert browser.sign_in(email).status_code == 302, web.log()
        people.append((slug, email, browser))

    wrong: list = []
    plan = [random.Random(n).choice(people) for n in range(240)]
    lock = threading.Lock()

    def client(index: int) -> None:
        for slug, email, browser in plan[index::8]:
            me = browser.get("/api/me")
            body = me.json() if me.status_code == 200 else {}
            if (body.get("email"), body.get("tenant")) != (email, slug):
                with lock:
                    wrong.append((slug, email, me.status_code, me.text[:200]))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert wrong == [], wrong[:5]


@pytest.mark.parametrize("declared", ["pgbouncer-session", "none"])
def test_through_pgbouncer_in_transaction_mode_portico_refuses_to_start(
        committed_db, pgbouncer_factory, web_servers, tmp_path, declared):
    bouncer = pgbouncer_factory("transaction")
    web = WebServer(tmp_path / "web.log", DATABASE_URL=bouncer.url(_test_db_name()), PORTICO_DB_POOLER=declared)
    web_servers.append(web)
    with pytest.raises(WebServerExited) as exited:
        web.start()
    assert "portico.E006" in str(exited.value) and "session state" in str(exited.value)
