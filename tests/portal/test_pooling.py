"""Connection pooling that keeps tenants apart: Django's own psycopg pool with threads switching
tenants reads each tenant's rows only; known-unsafe pooling is refused at start."""
from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.db.utils import ConnectionHandler
from django_tenants.utils import schema_context

from portal.checks import database_pooling_check, startup_checks


def test_transaction_mode_pgbouncer_is_refused_at_start(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.PORTICO_DB_POOLER = "pgbouncer-transaction"
    assert [m.id for m in database_pooling_check()] == ["portico.E001"]
    with pytest.raises(ImproperlyConfigured, match="transaction mode"):
        startup_checks()


def test_disabled_server_side_cursors_are_taken_as_transaction_pooling(settings):
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "DISABLE_SERVER_SIDE_CURSORS": True}}
    assert [m.id for m in database_pooling_check()] == ["portico.E003"]


def test_pgbouncer_port_without_a_declared_pooler_is_warned_about(settings):
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "PORT": 6432}}
    assert [m.id for m in database_pooling_check()] == ["portico.W002"]
    settings.PORTICO_DB_POOLER = "pgbouncer-session"
    assert database_pooling_check() == []


def test_reads_stay_in_their_tenant_through_djangos_connection_pool(committed_db):
    from provisioning.models import Property

    pooled = {**connections["default"].settings_dict, "CONN_MAX_AGE": 0,
              "OPTIONS": {**connections["default"].settings_dict.get("OPTIONS", {}),
                          "pool": {"min_size": 1, "max_size": 2}}}
    handler = ConnectionHandler({"default": pooled})
    expected = {}
    for slug in ("acme", "globex"):
        with schema_context(slug):
            expected[slug] = sorted(Property.objects.values_list("code", flat=True))
    wrong: list[str] = []

    def requests_of(slugs: list[str]) -> None:
        conn = handler["default"]
        for slug in slugs:
            conn.set_schema(slug)  # what the tenant middleware does per request
            with conn.cursor() as cursor:
                cursor.execute("SELECT code FROM provisioning_property ORDER BY code")
                got = [row[0] for row in cursor.fetchall()]
            if got != expected[slug]:
                wrong.append(f"{slug}: {got}")
            conn.close()  # end of request: the connection goes back to the pool for another thread
        handler.close_all()

    # 6 threads x 20 requests on a pool of 2 server connections: each is reused across tenants.
    threads = [threading.Thread(target=requests_of, args=(["acme", "globex"] * 10 if i % 2 else
                                                          ["globex", "acme"] * 10,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool = handler["default"].pool
    assert not wrong, wrong
    assert pool is not None and pool.get_stats()["requests_num"] >= 100
    handler["default"].close_pool()
