"""Health endpoint and a real Celery worker running tasks in the right tenant schema."""
from __future__ import annotations

import pytest
from django.conf import settings

from portal.celery import app as celery_app


def test_healthz_reports_200_when_database_redis_and_broker_are_up(public_client, acme_client):
    for client in (public_client, acme_client):
        response = client.get("/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert {name for name, part in body["components"].items() if part["ok"]} == {"database", "redis", "broker"}


def test_healthz_reports_503_naming_redis_when_it_is_unreachable(public_client, monkeypatch):
    dead = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(settings, "REDIS_URL", dead)
    monkeypatch.setattr(celery_app.conf, "broker_url", dead)
    response = public_client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert set(body["down"]) == {"redis", "broker"}
    assert body["components"]["database"]["ok"] is True


@pytest.mark.worker
def test_task_submitted_in_a_tenant_context_runs_on_a_real_worker_in_that_schema(committed_db, celery_worker):
    from django_tenants.utils import schema_context

    from tests.worker_tasks import schema_probe

    with schema_context("acme"):
        result = schema_probe.delay()
    assert result.get(timeout=30) == {"schema": "acme", "tenant": "acme", "properties": 2}
    with schema_context("globex"):
        assert schema_probe.delay().get(timeout=30) == {"schema": "globex", "tenant": "globex", "properties": 1}
    assert schema_probe.delay().get(timeout=30)["schema"] == "public"
