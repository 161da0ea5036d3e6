"""The edge for services that are down: PostgreSQL, Redis, the SAML replay store.

A request that meets a lost database connection or an unreachable Redis gets a clean 503 page
("try again in a minute") with a reference code that is also in the log, never a 500 traceback.
Django replaces a broken database connection at the next request (CONN_HEALTH_CHECKS) and redis-py
reconnects on the next command, so nothing needs restarting once the service is back.

Two entry points share `unavailable_response`: the middleware catches what a view raises, and
portal.views.error_500 catches what a middleware raised (the tenant lookup, the session), which
Django turns into a 500 before any middleware's process_exception sees it.
"""
from __future__ import annotations

import logging

import redis
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from sso.replay import ReplayStoreUnavailable

logger = logging.getLogger("portico.faults")

RETRY_AFTER_SECONDS = 60
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError, ReplayStoreUnavailable,
)


def _reference() -> str:
    from sso.services import sign_in_reference

    return sign_in_reference()


def _record_acs_refusal(request: HttpRequest, reference: str) -> None:
    """The replay store was down but PostgreSQL may be up: log the refusal in the sign-in log too."""
    from sso.models import SignInAttempt

    tenant = getattr(request, "tenant", None)
    try:
        SignInAttempt.objects.create(
            tenant=tenant if tenant is not None and not tenant.is_public else None, reference=reference,
            outcome=SignInAttempt.Outcome.FAILURE, code="replay_store_unavailable",
            message="The replay store could not be reached, so the sign-in was refused (nothing was consumed).",
            host=request.get_host()[:253], remote_addr=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )
    except Exception as exc:  # the database may be what is down; the log line below still has it
        logger.warning("could not record refusal %s in the sign-in log: %s", reference, type(exc).__name__)


def unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    reference = _reference()
    is_sign_in = isinstance(exc, ReplayStoreUnavailable)
    logger.error("service unavailable ref=%s path=%s: %s: %s", reference, request.path, type(exc).__name__,
                 str(exc)[:300])
    if is_sign_in:
        _record_acs_refusal(request, reference)
    # Rendered without the request: its context processors read the database and the session.
    html = render_to_string("errors/503.html", {
        "title": "Sign-in is unavailable for a moment" if is_sign_in else "Portico is unavailable for a moment",
        "message": ("Portico could not check that this sign-in was not used before, so it did not sign you in. "
                    "Nothing was recorded; start the sign-in again.") if is_sign_in else
                   "A service Portico depends on did not answer. Nothing was changed.",
        "reference": reference,
        "retry_url": "/login/" if is_sign_in else request.get_full_path(),
    })
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class ServiceUnavailableMiddleware:
    """Turns a view's lost database/Redis connection or replay-store failure into the 503 page."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, UNAVAILABLE_ERRORS):
            return unavailable_response(request, exception)
        return None
