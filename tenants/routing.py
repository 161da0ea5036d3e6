"""Host name → tenant, cached, with one version number that any change of routing bumps.

Each request reads the version from Redis (one round trip to Redis, none to PostgreSQL); the
process keeps what it resolved under that version, and Redis keeps it for the other processes.
A change of host names or of a tenant's status bumps the version after its transaction commits,
so every process stops trusting what it cached before, at once and without a broadcast.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.cache import caches
from django.db import connection
from redis import RedisError

from tenants.types import tenant_connection

logger = logging.getLogger("portico.tenants")

ROUTING_CACHE = "routing"
_VERSION_KEY = "tenants:routing:version"
_ENTRY_TTL = 24 * 3600
_LOCAL_MAX = 10_000  # hosts kept per process; beyond that the process starts afresh

_local: dict[str, tuple[int, dict[str, Any] | None]] = {}


def _cache():
    return caches[ROUTING_CACHE]


def _scope() -> str:
    # Keys name the database: two databases on one Redis (tests, bench) never share answers.
    return connection.settings_dict["NAME"]


def routing_version() -> int:
    cache, key = _cache(), f"{_VERSION_KEY}:{_scope()}"
    version = cache.get(key)
    if version is None:
        cache.add(key, 1, timeout=None)
        version = cache.get(key) or 1
    return int(version)


def routing_invalidate() -> None:
    """Forget every cached host → tenant answer, in every process (call after commit)."""
    cache, key = _cache(), f"{_VERSION_KEY}:{_scope()}"
    try:
        cache.incr(key)
    except ValueError:  # no version yet: start one above any a process may have seen
        cache.add(key, 2, timeout=None)
    _local.clear()


def _tenant_fields(host: str) -> dict[str, Any] | None:
    from tenants.models import Domain, Tenant

    # Domains live in the public schema, the one place routing reads from the database.
    tenant_connection().set_schema_to_public()
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    if domain is None:
        return None
    tenant: Tenant = domain.tenant
    return {field.attname: getattr(tenant, field.attname) for field in Tenant._meta.concrete_fields}


def _tenant_from_fields(fields: dict[str, Any]):
    from tenants.models import Tenant

    # A fresh instance per request: views may set attributes on request.tenant.
    return Tenant.from_db("default", list(fields), list(fields.values()))


def tenant_for_host(*, host: str):
    """The tenant a host routes to, or None. Database only on a cache miss (one query), and on every
    request while Redis is down: routing must not turn a Redis outage into a site-wide outage."""
    try:
        return _tenant_for_host_cached(host)
    except RedisError as exc:
        logger.warning("routing cache unavailable (%s): host %s looked up in PostgreSQL", type(exc).__name__, host)
        fields = _tenant_fields(host)
        return _tenant_from_fields(fields) if fields is not None else None


def _tenant_for_host_cached(host: str):
    version = routing_version()
    known = _local.get(host)
    if known is not None and known[0] == version:
        fields = known[1]
    else:
        key = f"host:{_scope()}:{version}:{host}"
        cached = _cache().get(key, default=False)
        if cached is False:
            fields = _tenant_fields(host)
            # Unknown hosts are not remembered: a typo or a probe must not fill the cache.
            if fields is not None:
                _cache().set(key, fields, timeout=_ENTRY_TTL)
        else:
            fields = cached
        if fields is not None:
            if len(_local) >= _LOCAL_MAX:
                _local.clear()
            _local[host] = (version, fields)
    return _tenant_from_fields(fields) if fields is not None else None
