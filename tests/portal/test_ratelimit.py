"""Rate limits: a clear 429 with Retry-After, per IP and per tenant, refusals at the ACS cost more,
refused posts beyond the budget are logged without their body, and the limiter fails open."""
from __future__ import annotations

import uuid

import pytest

from sso.models import SignInAttempt
from tests.conftest import client_for


@pytest.fixture
def limits_on(settings):
    settings.PORTICO_RATELIMIT_ENABLED = True
    # A fresh client address per test, so earlier runs' counters in Redis never count here.
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def _scope(settings, name: str, ip: str = "", tenant: str = "") -> None:
    settings.PORTICO_RATELIMITS = {**settings.PORTICO_RATELIMITS, name: {"ip": ip, "tenant": tenant}}


def test_discovery_beyond_the_per_ip_limit_gets_a_429_saying_when_to_retry(public_client, settings, limits_on):
    _scope(settings, "discovery", ip="3/minute")
    client = client_for("localhost", REMOTE_ADDR=limits_on)
    answers = [client.post("/login/", {"email": "x@acme.example"}).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    refused = client.post("/login/", {"email": "x@acme.example"})
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert b"Too many attempts" in refused.content and b"Reference" in refused.content
    other = client_for("localhost", REMOTE_ADDR=limits_on.replace("10.", "11.", 1))
    assert other.post("/login/", {"email": "x@acme.example"}).status_code == 200


def test_the_per_tenant_limit_holds_across_client_addresses(acme, settings, limits_on):
    import redis

    from portal import ratelimit

    _scope(settings, "discovery", tenant="2/minute")
    # The tenant counter is keyed on the schema: give this test a Redis database of its own (13).
    settings.PORTICO_RATELIMIT_REDIS_URL = settings.REDIS_URL.rsplit("/", 1)[0] + "/13"
    redis.Redis.from_url(settings.PORTICO_RATELIMIT_REDIS_URL).flushdb()
    try:
        codes = [client_for("acme.localhost", REMOTE_ADDR=f"10.9.9.{i}").post("/login/", {"email": "a@acme.example"})
                 .status_code for i in range(3)]
        assert codes == [200, 200, 429]
    finally:
        ratelimit._limiter.cache_clear()


def test_refused_sign_ins_cost_more_and_beyond_the_budget_are_logged_without_their_body(acme, settings, limits_on):
    _scope(settings, "acs", ip="9/minute")
    settings.PORTICO_RATELIMIT_ACS_FAILURE_COST = 5
    settings.PORTICO_ACS_REFUSED_BODY_BUDGET = 1
    client = client_for("acme.localhost", REMOTE_ADDR=limits_on)
    garbage = {"SAMLResponse": "PGdhcmJhZ2Uv", "portico_bounce": "1"}  # "<garbage/>"
    assert client.post("/sso/acs/", garbage).status_code == 403  # costs 5
    first = SignInAttempt.objects.order_by("-created", "-id").first()
    assert client.post("/sso/acs/", garbage).status_code == 403  # costs 5: 10 of 9 used
    second = SignInAttempt.objects.order_by("-created", "-id").first()
    assert client.post("/sso/acs/", garbage).status_code == 429  # three refusals: over the budget
    assert first.response_xml and not first.body_dropped
    assert second.response_xml == "" and second.body_dropped


def test_with_the_limiter_redis_down_requests_go_through(public_client, settings, limits_on):
    from portal import ratelimit

    _scope(settings, "discovery", ip="1/minute")
    settings.PORTICO_RATELIMIT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    ratelimit._limiter.cache_clear()
    client = client_for("localhost", REMOTE_ADDR=limits_on)
    try:
        assert [client.post("/login/", {"email": "x@acme.example"}).status_code for _ in range(3)] == [200] * 3
    finally:
        ratelimit._limiter.cache_clear()


def test_every_limited_url_name_exists_and_has_a_configured_scope(settings):
    from django.urls import reverse, NoReverseMatch

    from portal.ratelimit import LIMITED_URLS

    for name, (scope, _methods) in LIMITED_URLS.items():
        assert scope in settings.PORTICO_RATELIMITS
        for urlconf in ("portal.urls_public", "portal.urls_tenant"):
            try:
                reverse(name, urlconf=urlconf, kwargs={"token": "t"} if name == "setup_link" else
                        {"code": "c"} if name == "property_manage" else
                        {"membership_id": 1} if name.startswith("team_member") else None)
                break
            except NoReverseMatch:
                continue
        else:
            pytest.fail(f"{name} is not a URL name")
