"""Rate limits per client IP and per tenant, on the endpoints people can hammer without signing in
(or with a stolen session): email discovery, the ACS, set-up links, the New User form, Team Members
writes. Redis-backed through the `limits` library (sliding-window counters), shared by every web
process.

One middleware maps URL names to a scope, so views need no decorator and a new URL is limited by
adding its name below. Before the view it asks whether the client and the tenant still have budget
(429 with Retry-After if not); after it, it charges the request: a refused sign-in costs
PORTICO_RATELIMIT_ACS_FAILURE_COST, a successful one 1, so someone guessing at the ACS runs out long
before people signing in do.

The limiter fails open: with its Redis down the request goes through and a warning is logged, since
refusing every sign-in because a counter is unreachable would turn a Redis outage into a total
outage while protecting nothing the verifier does not. Replay protection is different and never
fails open (sso.replay): accepting an assertion twice is a security failure, not a lost counter.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

logger = logging.getLogger("portico.ratelimit")

# URL name -> (scope, which methods count). GET of a set-up link uses its token, so it counts.
class LimitedRequest(HttpRequest):
    """What RateLimitMiddleware marks on a request it let through a limited URL."""

    portico_ratelimit_scope: str
    portico_keep_response_body: Callable[[], bool]  # only on the ACS (sso.views reads it)


LIMITED_URLS: dict[str, tuple[str, frozenset[str]]] = {
    "login": ("discovery", frozenset({"POST"})),
    "central_login": ("discovery", frozenset({"POST"})),
    "central_home": ("discovery", frozenset({"POST"})),
    "sso_acs": ("acs", frozenset({"POST"})),
    "sso_slo": ("acs", frozenset({"GET", "POST"})),  # each message costs a signature check, like a sign-in
    "setup_link": ("setup_link", frozenset({"GET", "POST"})),
    "setup_link_continue": ("setup_link", frozenset({"POST"})),
    "property_manage": ("new_user_request", frozenset({"POST"})),
    "team": ("team_write", frozenset({"POST"})),
    "team_member": ("team_write", frozenset({"POST"})),
    "team_member_remove": ("team_write", frozenset({"POST"})),
    "team_member_resend": ("team_write", frozenset({"POST"})),
}
ACS_BODY_BUDGET_SCOPE = "acs_refused_body"
_REFUSED_STATUSES = range(400, 500)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


@lru_cache(maxsize=4)
def _limiter(url: str) -> SlidingWindowCounterRateLimiter:
    storage = RedisStorage(url, key_prefix="portico-rl", wrap_exceptions=True, socket_connect_timeout=1,
                           socket_timeout=1)
    return SlidingWindowCounterRateLimiter(storage)


@lru_cache(maxsize=64)
def _item(spec: str) -> RateLimitItem:
    return parse(spec)


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the address the trusted load balancer appended last to PORTICO_CLIENT_IP_HEADER."""
    header = settings.PORTICO_CLIENT_IP_HEADER
    if header and request.META.get(header):
        return request.META[header].split(",")[-1].strip()[:64]
    return request.META.get("REMOTE_ADDR", "-")


def _keys(request: HttpRequest, scope: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
    limits = settings.PORTICO_RATELIMITS.get(scope, {})
    tenant = getattr(request, "tenant", None)
    tenant_key = getattr(tenant, "schema_name", "-")
    keys: list[tuple[RateLimitItem, tuple[str, ...]]] = []
    if limits.get("ip"):
        keys.append((_item(limits["ip"]), (scope, "ip", tenant_key, client_ip(request))))
    if limits.get("tenant"):
        keys.append((_item(limits["tenant"]), (scope, "tenant", tenant_key)))
    return keys


def _fail_open(what: str, exc: Exception) -> None:
    logger.warning("rate limiter unavailable (%s: %s): %s not limited", type(exc).__name__, exc, what)


def limit_check(request: HttpRequest, scope: str) -> Verdict:
    """May this request go ahead? (Charges nothing; limit_charge does after the view.)"""
    try:
        limiter = _limiter(settings.PORTICO_RATELIMIT_REDIS_URL)
        for item, ids in _keys(request, scope):
            if not limiter.test(item, *ids):
                reset = limiter.get_window_stats(item, *ids).reset_time
                return Verdict(False, max(1, math.ceil(reset - time.time())))
    except Exception as exc:  # fail open by design, see the module docstring
        _fail_open(scope, exc)
    return Verdict(True)


def limit_charge(request: HttpRequest, scope: str, *, cost: int = 1) -> None:
    try:
        limiter = _limiter(settings.PORTICO_RATELIMIT_REDIS_URL)
        for item, ids in _keys(request, scope):
            # One unit at a time: `limits` records nothing of a hit whose whole cost does not fit, and
            # a refusal that overflows the window must still fill it.
            for _ in range(cost):
                if not limiter.hit(item, *ids):
                    break
    except Exception as exc:
        _fail_open(scope, exc)


def _acs_body_budget_left(request: HttpRequest) -> bool:
    """Whether a refused post from this client may still be logged with its body (one hour's budget)."""
    item = _item(f"{settings.PORTICO_ACS_REFUSED_BODY_BUDGET}/hour")
    try:
        return _limiter(settings.PORTICO_RATELIMIT_REDIS_URL).hit(
            item, ACS_BODY_BUDGET_SCOPE, getattr(getattr(request, "tenant", None), "schema_name", "-"), client_ip(request))
    except Exception as exc:
        _fail_open("the refused-body budget", exc)
        return False  # when unsure, keep the database small rather than the diagnostics complete


def too_many_response(request: HttpRequest, scope: str, retry_after: int) -> HttpResponse:
    from sso.services import sign_in_reference

    reference = sign_in_reference()
    logger.warning("rate limit ref=%s scope=%s ip=%s tenant=%s path=%s", reference, scope, client_ip(request),
                   getattr(getattr(request, "tenant", None), "schema_name", "-"), request.path)
    minutes, seconds = divmod(retry_after, 60)
    text = (f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes and not seconds else
            f"{retry_after} second{'s' if retry_after != 1 else ''}" if not minutes else
            f"{minutes} min {seconds} s")
    html = render_to_string("errors/429.html", {
        "message": "There were too many attempts from your network or your organisation in a short time, so "
                   "Portico paused this one. Nothing was changed.",
        "retry_after_text": text, "reference": reference})
    response = HttpResponse(html, status=429)
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


class RateLimitMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        scope = getattr(request, "portico_ratelimit_scope", None)
        if scope and response.status_code != 429:
            refused = response.status_code in _REFUSED_STATUSES
            cost = settings.PORTICO_RATELIMIT_ACS_FAILURE_COST if scope == "acs" and refused else 1
            limit_charge(request, scope, cost=cost)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if not settings.PORTICO_RATELIMIT_ENABLED:
            return None
        match = request.resolver_match
        limited = LIMITED_URLS.get(match.url_name or "") if match else None
        if limited is None or request.method not in limited[1]:
            return None
        scope = limited[0]
        verdict = limit_check(request, scope)
        if not verdict.allowed:
            return too_many_response(request, scope, verdict.retry_after)
        marked = cast(LimitedRequest, request)
        marked.portico_ratelimit_scope = scope
        if scope == "acs":
            # Read by the ACS when it logs a refusal: beyond the budget, without the posted body.
            marked.portico_keep_response_body = lambda: _acs_body_budget_left(request)
        return None
