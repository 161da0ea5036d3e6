"""Health of the services Portico cannot work without."""
from __future__ import annotations

from typing import TypedDict

import redis
from django.conf import settings
from django.db import connection

from portal.celery import app as celery_app


class ComponentHealth(TypedDict):
    ok: bool
    detail: str


def _database() -> ComponentHealth:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "detail": "ok"}
    except Exception as exc:  # any driver error means "down"; the detail says which
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}".strip()[:200]}


def _redis(url: str) -> ComponentHealth:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return {"ok": True, "detail": "ok"}
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}


def _broker() -> ComponentHealth:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=1)
        return {"ok": True, "detail": "ok"}
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}


def health_report() -> dict[str, ComponentHealth]:
    """State of database, Redis (cache and replay store) and the Celery broker."""
    return {
        "database": _database(),
        "redis": _redis(settings.REDIS_URL),
        "broker": _broker(),
    }
