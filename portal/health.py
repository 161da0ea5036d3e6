"""Health of the services Portico cannot work without."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

import redis
from django.conf import settings
from django.db import connection

from portal.celery import app as celery_app


class ComponentHealth(TypedDict):
    ok: bool
    detail: str


def _probe(check: Callable[[], object]) -> ComponentHealth:
    """Any error from a driver means "down"; the detail says which."""
    try:
        check()
        return {"ok": True, "detail": "ok"}
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}".strip()[:200]}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()


def _broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=0, timeout=1)


def health_report() -> dict[str, ComponentHealth]:
    """State of database, Redis (cache and replay store) and the Celery broker."""
    return {"database": _probe(_database), "redis": _probe(_redis), "broker": _probe(_broker)}
