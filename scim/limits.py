"""Per-token rate limit of the SCIM endpoint, in Redis so every worker counts the same requests."""
from __future__ import annotations

import math
import time
from functools import lru_cache

from django.conf import settings
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@lru_cache(maxsize=1)
def _limiter() -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(settings.REDIS_URL))


def scim_rate_limit_hit(*, schema_name: str, token_key: str) -> int | None:
    """Count one request of this token (keyed by its hash, never reused); None if allowed, else seconds
    until the next one is."""
    item = parse(settings.PORTICO_SCIM_RATE_LIMIT)
    limiter = _limiter()
    keys = ("portico-scim", schema_name, token_key)
    if limiter.hit(item, *keys):
        return None
    reset_at, _remaining = limiter.get_window_stats(item, *keys)
    return max(1, math.ceil(reset_at - time.time()))
