"""Single use of every SAML assertion, shared by all workers (security checklist row 10).

pysaml2 keeps no record of the assertions it accepted; Portico keeps one per issuer + assertion ID
until the assertion expires.
"""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timezone

from django.conf import settings
from django.core.cache import cache


def assertion_consume(*, issuer: str, assertion_id: str, not_on_or_after: datetime) -> bool:
    """Mark an assertion used; False if it was used before. Redis-backed, so every worker sees it."""
    digest = hashlib.sha256(f"{issuer}\n{assertion_id}".encode()).hexdigest()
    ttl = (not_on_or_after - datetime.now(UTC)).total_seconds() + settings.PORTICO_SAML_CLOCK_SKEW_SECONDS
    # cache.add is SET NX: exactly one of two concurrent posts of the same assertion wins.
    return cache.add(f"saml-assertion:{digest}", 1, timeout=max(int(ttl), 1) + 1)
