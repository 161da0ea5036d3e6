"""portal.sessions: cached_db sessions that read from PostgreSQL while their cache (Redis) is down,
and refuse to delete while it is (a cache copy must not outlive a sign-out)."""
import socket

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore as UpstreamStore
from django_tenants.utils import schema_context
from redis import RedisError

from portal.sessions import SessionStore


def _cache_unreachable(settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"],
                                                      "LOCATION": f"redis://127.0.0.1:{port}/0"}}


def _stored_session() -> str:
    store = SessionStore()
    store["who"] = "rosa"
    store.create()
    return store.session_key


def test_a_session_is_read_from_postgresql_while_its_cache_is_down(acme, settings):
    with schema_context("acme"):
        key = _stored_session()
        _cache_unreachable(settings)
        with pytest.raises(RedisError):  # what Django's own cached_db does: the page would be a 503
            UpstreamStore(key).load()
        assert SessionStore(key).load() == {"who": "rosa"}
        assert SessionStore().exists(key)


def test_deleting_a_session_while_its_cache_is_down_fails_instead_of_leaving_its_cache_copy(acme, settings):
    with schema_context("acme"):
        key = _stored_session()
        _cache_unreachable(settings)
        with pytest.raises(RedisError):
            SessionStore(key).delete()
