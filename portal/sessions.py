"""Sessions read from Redis and kept in the tenant's PostgreSQL table (Django's cached_db), which go
on working from PostgreSQL alone while Redis is down.

Django's cached_db already tolerates a failing cache read and a failing write in save(), but not the
cache write after a read from the database, nor the membership test (Django 5.2), so one Redis outage
would answer every signed-in page with a 503. Here those two are logged and skipped: PostgreSQL holds
the truth, the cache copy is only a shortcut. Deleting is left as upstream has it, failing with the
cache: a sign-out or suspension that could not remove the cache copy must not look done, since that
copy would sign the person in again once Redis answers (the 503 page asks them to try again).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.cache.backends.base import BaseCache

logger = logging.getLogger("portico.sessions")


class SessionStore(cached_db.SessionStore):
    # Set by upstream's __init__ and methods; declared here because django-stubs leaves them out.
    _cache: BaseCache
    _get_session_from_db: Callable[[], AbstractBaseSession | None]

    def load(self) -> dict:
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # as upstream: an unreachable cache reads as a miss
            data = None
        if data is not None:
            return data
        stored = self._get_session_from_db()
        if not stored:
            return {}
        data = self.decode(stored.session_data)
        try:
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=stored.expire_date))
        except Exception as exc:
            logger.warning("session cache unavailable (%s): session read from PostgreSQL", type(exc).__name__)
        return data

    def exists(self, session_key: str) -> bool:
        try:
            if session_key and (self.cache_key_prefix + session_key) in self._cache:
                return True
        except Exception as exc:
            logger.warning("session cache unavailable (%s): existence checked in PostgreSQL", type(exc).__name__)
        return super(cached_db.SessionStore, self).exists(session_key)
