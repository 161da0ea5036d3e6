"""The replay store survives a restart of its Redis, fails closed when it is down, and warns at start
when its Redis would evict records (private redis-servers started by each test)."""
from __future__ import annotations

import base64

import pytest

from portal.checks import replay_store_check
from provisioning.models import AccessLevel
from sso.models import ConsumedAssertion, IdentityProvider, SignInAttempt
from sso.services import idp_options_update
from tests.conftest import client_for
from tests.provisioning.factories import member_create

pytestmark = pytest.mark.faults
ACS = "http://acme.localhost:8000/sso/acs/"
AUDIENCE = "http://acme.localhost:8000/sso/metadata/"


def _idp_initiated_response(acme, acme_idp, email: str) -> str:
    idp_options_update(idp=IdentityProvider.objects.get(tenant=acme), actor="test", allow_idp_initiated=True)
    member_create(email=email, access_level=AccessLevel.TECHNICIAN)
    xml = acme_idp.build_response(acs_url=ACS, audience=AUDIENCE, email=email)
    return base64.b64encode(xml.encode()).decode()


def _post(response_b64: str):
    client = client_for("acme.localhost")
    return client, client.post("/sso/acs/", {"SAMLResponse": response_b64, "portico_bounce": "1"})


def test_a_response_used_before_the_replay_redis_restarted_is_still_refused(acme, acme_idp, private_redis, settings):
    settings.PORTICO_REPLAY_REDIS_URL = private_redis.url(1)
    response = _idp_initiated_response(acme, acme_idp, "rosa@acme.example")
    first_client, first = _post(response)
    assert first.status_code == 302 and first_client.get("/api/me").status_code == 200

    private_redis.stop()  # not persistent: every Redis record is gone
    private_redis.start()
    assert private_redis_keys(private_redis) == 0

    second_client, second = _post(response)
    assert second.status_code == 403 and b"Reference" in second.content
    assert second_client.get("/api/me").status_code == 401
    assert SignInAttempt.objects.order_by("-created", "-id").first().code == "replay"


def private_redis_keys(server) -> int:
    import redis

    return redis.Redis.from_url(server.url(1)).dbsize()


def test_with_the_replay_store_down_sign_in_is_refused_with_a_503_and_nothing_is_consumed(
        acme, acme_idp, private_redis, settings):
    settings.PORTICO_REPLAY_REDIS_URL = private_redis.url(1)
    response = _idp_initiated_response(acme, acme_idp, "omar@acme.example")
    rows_before = ConsumedAssertion.objects.count()
    private_redis.stop()

    client, refused = _post(response)
    assert refused.status_code == 503 and refused["Retry-After"] == "60"
    assert b"try again in a minute" in refused.content and b"Traceback" not in refused.content
    attempt = SignInAttempt.objects.order_by("-created", "-id").first()
    assert attempt.code == "replay_store_unavailable" and attempt.reference.encode() in refused.content
    assert client.get("/api/me").status_code == 401
    assert ConsumedAssertion.objects.count() == rows_before

    private_redis.start()  # back: the same response was never consumed, so it signs in now
    client, accepted = _post(response)
    assert accepted.status_code == 302 and client.get("/api/me").status_code == 200


def test_the_replay_store_check_warns_when_its_redis_evicts(tmp_path, settings):
    from tests.faults.conftest import PrivateRedis

    evicting = PrivateRedis(tmp_path / "evicting", args=("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"))
    evicting.start()
    try:
        settings.PORTICO_REPLAY_REDIS_URL = evicting.url(1)
        assert [m.id for m in replay_store_check()] == ["portico.W001"]
    finally:
        evicting.stop()


def test_the_replay_store_check_is_quiet_on_a_noeviction_redis_of_its_own(private_redis, settings):
    settings.PORTICO_REPLAY_REDIS_URL = private_redis.url(1)
    assert replay_store_check() == []


def test_the_replay_store_check_warns_when_it_shares_the_cache_database(private_redis, settings):
    settings.PORTICO_REPLAY_REDIS_URL = settings.REDIS_URL
    assert "portico.W003" in [m.id for m in replay_store_check()]


def test_expired_records_are_purged_and_live_ones_kept(db):
    from datetime import datetime, timedelta, timezone

    from sso.replay import consumed_assertions_purge

    now = datetime.now(timezone.utc)
    ConsumedAssertion.objects.create(assertion_digest="a" * 64, issuer_digest="i", expires_at=now - timedelta(1),
                                     consumed_at=now)
    ConsumedAssertion.objects.create(assertion_digest="b" * 64, issuer_digest="i", expires_at=now + timedelta(1),
                                     consumed_at=now)
    assert consumed_assertions_purge(now=now) == 1
    assert list(ConsumedAssertion.objects.values_list("assertion_digest", flat=True)) == ["b" * 64]
