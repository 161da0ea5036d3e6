"""The SAML replay store: every assertion signs in once, across all web processes, even after a
Redis restart, eviction or an operator's `cache.clear()`.

A consumed assertion is recorded twice, and either record refuses it again:
  * in Redis, on a connection and logical database of its own (PORTICO_REPLAY_REDIS_URL), never
    the cache's, broker's or results' database, so `cache.clear()` and an eviction policy meant for
    the cache do not reach it. That database needs `maxmemory-policy noeviction`; portal.checks
    warns at start when it is not;
  * in PostgreSQL (sso.ConsumedAssertion, a unique key on the digest), which survives a Redis
    restart without relying on Redis persistence. A beat task purges rows past their lifetime.

Both are written or neither: the PostgreSQL row is inserted in a transaction that commits only
after Redis answered. Any failure of either store raises ReplayStoreUnavailable, and the sign-in is
refused with a 503 (portal.faults); it is never accepted unchecked.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction

logger = logging.getLogger("portico.sso")


class ReplayStoreUnavailable(Exception):
    """Neither "new" nor "seen" could be established: refuse the sign-in and let the user retry."""


@lru_cache(maxsize=4)
def _redis_for(url: str) -> redis.Redis:
    # Short timeouts: a dead store must answer "unavailable" quickly, not hold a web worker.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30)


def replay_redis() -> redis.Redis:
    return _redis_for(settings.PORTICO_REPLAY_REDIS_URL)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def assertion_consume(*, issuer: str, assertion_id: str, not_on_or_after: datetime) -> bool:
    """Mark an assertion used; False if it was used before. Raises ReplayStoreUnavailable when
    either store cannot answer (nothing is recorded then)."""
    from sso.models import ConsumedAssertion

    key_digest = _digest(f"{issuer}\n{assertion_id}")
    expires_at = not_on_or_after + timedelta(seconds=settings.PORTICO_SAML_CLOCK_SKEW_SECONDS)
    ttl = max(int((expires_at - datetime.now(timezone.utc)).total_seconds()), 1) + 1
    key = f"portico:saml-assertion:{key_digest}"
    client = replay_redis()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                # ON CONFLICT DO NOTHING: of two concurrent posts exactly one inserts; the other
                # waits for the first to commit and then sees the conflict.
                cursor.execute(
                    f"INSERT INTO public.{ConsumedAssertion._meta.db_table} "
                    "(assertion_digest, issuer_digest, expires_at, consumed_at) VALUES (%s, %s, %s, now()) "
                    "ON CONFLICT (assertion_digest) DO NOTHING",
                    [key_digest, _digest(issuer), expires_at],
                )
                inserted = cursor.rowcount == 1
            # SET NX even when PostgreSQL already knew it, so a Redis restart heals itself.
            fresh_in_redis = bool(client.set(key, 1, nx=True, ex=ttl))
            if not (inserted and fresh_in_redis):
                transaction.set_rollback(True)
                return False
    except (redis.RedisError, DatabaseError) as exc:
        logger.error("replay store unavailable (%s: %s): sign-in refused", type(exc).__name__, exc)
        raise ReplayStoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
    return True


def consumed_assertions_purge(*, now: datetime | None = None) -> int:
    """Delete PostgreSQL records of assertions past their lifetime (they can no longer be replayed:
    the verifier refuses an expired assertion before it reaches the store)."""
    from sso.models import ConsumedAssertion

    deleted, _ = ConsumedAssertion.objects.filter(expires_at__lt=now or datetime.now(timezone.utc)).delete()
    return deleted
