"""SAML endpoints of a tenant host: SP-initiated login, the ACS, SP metadata, who am I, sign-out.

The views stay thin: sso.acs decides, djangosaml2/pysaml2 run the protocol, provisioning owns users.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from djangosaml2.cache import OutstandingQueriesCache
from djangosaml2.views import AssertionConsumerServiceView, LoginView
from saml2.response import StatusError, UnsolicitedResponse
from saml2.sigver import SignatureError, SigverError
from saml2.validate import ResponseLifetimeExceed, ToEarly

from provisioning.selectors import membership_state
from sso.acs import AcsResult, acs_verify
from sso.conf import IdpNotConfigured, idp_for_sign_in, saml_config_for
from sso.diagnosis import admin_headline, decoded_for_display, user_message
from sso.errors import SignInRejected
from sso.models import SignInAttempt
from sso.redirects import safe_next
from sso.saml_guard import SamlRejected, peek_response
from sso.selectors import attempt_for_tenant, can_manage_sso, response_xml_readable
from sso.services import sign_in_attempt_record
from sso.sp import sp_endpoints_for_request
from sso.sp_metadata import sp_metadata_xml
from tenants.selectors import email_domains_of

logger = logging.getLogger("portico.sso")
TEST_REQUESTS_KEY = "portico_test_requests"


def _tenant_or_404(request: HttpRequest):
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == "public":
        raise Http404("SSO lives on tenant hosts")
    return tenant


def _client_meta(request: HttpRequest) -> dict:
    return {"host": request.get_host(), "remote_addr": request.META.get("REMOTE_ADDR"),
            "user_agent": request.META.get("HTTP_USER_AGENT", "")}


def _not_configured(request: HttpRequest) -> HttpResponse:
    return render(request, "sso/error.html", {
        "title": "Single sign-on isn't set up yet",
        "message": f"{request.tenant.name} hasn't connected its identity provider to Portico yet.",
        "advice": "Ask your organisation's Client Administrator to finish the SSO setup.",
    }, status=404)


@method_decorator(never_cache, name="dispatch")
class SsoLoginView(LoginView):
    """GET /sso/login/?next=/path — starts SP-initiated sign-in (HTTP-Redirect AuthnRequest)."""

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        tenant = _tenant_or_404(request)
        try:
            request.portico_idp = idp_for_sign_in(tenant)
        except IdpNotConfigured:
            return _not_configured(request)
        self.is_test = request.GET.get("test") == "1"
        if self.is_test and not can_manage_sso(request.user):
            raise PermissionDenied("Only a Client Administrator can run a test sign-in.")
        # djangosaml2 reads `next` itself; hand it only a safe, same-host path.
        request.GET = request.GET.copy()
        request.GET["next"] = safe_next(request.GET.get("next"))
        queries = OutstandingQueriesCache(request.saml_session)
        before = set(queries.outstanding_queries())
        response = super().get(request, *args, **kwargs)
        if self.is_test:
            started = set(OutstandingQueriesCache(request.saml_session).outstanding_queries()) - before
            tests = {**request.saml_session.get(TEST_REQUESTS_KEY, {}), **{rid: True for rid in started}}
            request.saml_session[TEST_REQUESTS_KEY] = tests
        return response

    def should_prevent_auth(self, request: HttpRequest) -> bool:
        return request.user.is_authenticated and not self.is_test


@method_decorator(never_cache, name="dispatch")
class AcsView(AssertionConsumerServiceView):
    """POST /sso/acs/ — Portico's checks first (sso.acs), then djangosaml2/pysaml2, then sign-in."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        tenant = _tenant_or_404(request)
        saml_response = request.POST.get("SAMLResponse", "")
        if not saml_response:
            return HttpResponseBadRequest("Missing SAMLResponse.")
        if len(saml_response) > settings.PORTICO_SAML_MAX_RESPONSE_BYTES * 4 // 3 + 4:
            return self._reject(request, SignInRejected("too_large", "The SAML response is larger than Portico accepts."))
        # The IdP's POST is cross-site, so the browser withheld our SameSite=Lax cookies; send it
        # back through the browser once as a same-site POST, which carries them.
        if settings.SAML_SESSION_COOKIE_NAME not in request.COOKIES and request.POST.get("portico_bounce") != "1":
            return render(request, "sso/acs_bounce.html", {
                "saml_response": saml_response, "relay_state": request.POST.get("RelayState", "")})
        try:
            idp = idp_for_sign_in(tenant)
        except IdpNotConfigured:
            return _not_configured(request)
        request.portico_idp = idp
        self.is_test = self._is_test_flow(request, saml_response)
        endpoints = sp_endpoints_for_request(request)
        outstanding = OutstandingQueriesCache(request.saml_session).outstanding_queries()
        try:
            result = acs_verify(idp=idp, endpoints=endpoints, saml_response=saml_response, outstanding=outstanding,
                                email_domains=email_domains_of(tenant=tenant))
        except SignInRejected as exc:
            return self._reject(request, exc)
        request.portico_acs = result
        if self.is_test:
            return self._test_success(request, idp, endpoints, result, saml_response, outstanding)
        return super().post(request, *args, **kwargs)

    # --- djangosaml2 hooks ---

    def custom_validation(self, response) -> None:
        """pysaml2 must have read the same assertion Portico verified (defence against parser differentials)."""
        verified = self.request.portico_acs.verified
        if response.assertion.id != verified.assertion_id or response.assertion.subject.name_id.text.strip() != verified.name_id:
            raise SignInRejected("signature_wrapping", "The SAML library and Portico read different assertions.")

    def handle_acs_failure(self, request: HttpRequest, exception: Exception | None = None, status: int = 403,
                           **kwargs) -> HttpResponse:
        return self._reject(request, _rejection_from_library(exception), status=status)

    def post_login_hook(self, request: HttpRequest, user, session_info: dict) -> None:
        result: AcsResult = request.portico_acs
        sign_in_attempt_record(
            tenant=request.tenant, outcome=SignInAttempt.Outcome.SUCCESS, code="ok",
            message=f"Signed in as {result.identity.email}.", email=result.identity.email,
            idp_initiated=result.idp_initiated, issuer=result.verified.issuer,
            in_response_to=result.request_id or "", **_client_meta(request),
        )

    def custom_redirect(self, user, relay_state: str, session_info) -> str:
        if membership_state(user=user) == "waiting_room":
            return "/waiting-room/"
        return safe_next(relay_state)

    # --- Portico's own ---

    def _is_test_flow(self, request: HttpRequest, saml_response: str) -> bool:
        try:
            _issuer, in_response_to = peek_response(saml_response, max_bytes=settings.PORTICO_SAML_MAX_RESPONSE_BYTES)
        except SamlRejected:
            return False
        return bool(in_response_to) and in_response_to in request.saml_session.get(TEST_REQUESTS_KEY, {})

    def _test_success(self, request, idp, endpoints, result: AcsResult, saml_response: str, outstanding) -> HttpResponse:
        """A test sign-in proves the whole path, pysaml2 included, but signs nobody in or up."""
        from saml2.client import Saml2Client

        try:
            Saml2Client(saml_config_for(idp=idp, endpoints=endpoints)).parse_authn_request_response(
                saml_response, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", outstanding)
        except Exception as exc:  # pysaml2 raises bare Exceptions for some checks
            return self._reject(request, _rejection_from_library(exc))
        # The request is answered: forget it, as djangosaml2 does after a real sign-in.
        OutstandingQueriesCache(request.saml_session).delete(result.request_id)
        request.saml_session[TEST_REQUESTS_KEY] = {
            rid: True for rid in request.saml_session.get(TEST_REQUESTS_KEY, {}) if rid != result.request_id}
        identity = result.identity
        attempt = sign_in_attempt_record(
            tenant=request.tenant, outcome=SignInAttempt.Outcome.SUCCESS, code="ok", is_test=True,
            message=(f"Test sign-in succeeded for {identity.email}"
                     f" (name: {identity.first_name} {identity.last_name}".rstrip() + ")."),
            email=identity.email, idp_initiated=result.idp_initiated, issuer=result.verified.issuer,
            in_response_to=result.request_id or "", response_xml=result.verified.xml, **_client_meta(request),
        )
        return redirect("sso_test_result", reference=attempt.reference)

    def _reject(self, request: HttpRequest, rejection: SignInRejected, status: int = 403) -> HttpResponse:
        saml_response = request.POST.get("SAMLResponse", "")
        issuer = in_response_to = ""
        xml = ""
        try:
            issuer, in_response_to = (v or "" for v in peek_response(
                saml_response, max_bytes=settings.PORTICO_SAML_MAX_RESPONSE_BYTES))
        except SamlRejected:
            pass
        # The rate limiter (portal.ratelimit) says when this client's refused posts are over budget.
        keep_body = getattr(request, "portico_keep_response_body", lambda: True)()
        xml = decoded_for_display(saml_response, max_bytes=settings.PORTICO_SAML_MAX_RESPONSE_BYTES) if keep_body else ""
        is_test = getattr(self, "is_test", False)
        attempt = sign_in_attempt_record(
            tenant=request.tenant, outcome=SignInAttempt.Outcome.FAILURE, code=rejection.code,
            message=rejection.detail, is_test=is_test, idp_initiated=not in_response_to, issuer=issuer,
            in_response_to=in_response_to, response_xml=xml, body_dropped=not keep_body, **_client_meta(request),
        )
        if is_test:
            return redirect("sso_test_result", reference=attempt.reference)
        title, advice = user_message(rejection.code)
        return render(request, "sso/error.html", {
            "title": title, "advice": advice, "reference": attempt.reference,
            "retry_url": "/login/",
        }, status=413 if rejection.code == "too_large" else 403)


def _rejection_from_library(exception: Exception | None) -> SignInRejected:
    """Name what pysaml2/djangosaml2 refused in Portico's codes (pysaml2 uses bare Exceptions for some)."""
    if isinstance(exception, SignInRejected):
        return exception
    text = str(exception or "")
    if isinstance(exception, ResponseLifetimeExceed):
        return SignInRejected("expired", f"The response has expired ({text}). Check the clocks.")
    if isinstance(exception, ToEarly):
        return SignInRejected("not_yet_valid", f"The response is not valid yet ({text}). Check the clocks.")
    if isinstance(exception, (SignatureError, SigverError)):
        return SignInRejected("signature_invalid", f"The signature did not verify ({text}).")
    if isinstance(exception, UnsolicitedResponse):
        return SignInRejected("unknown_request", "The response answers no sign-in request started here.")
    if isinstance(exception, StatusError):
        return SignInRejected("status", f"The IdP reported an error: {text}")
    if "AudienceRestrictions" in text:
        return SignInRejected("audience_mismatch", "The response is meant for another Identifier (audience).")
    if "destination" in text.lower():
        return SignInRejected("destination_mismatch", "The response was sent to another Reply URL.")
    if isinstance(exception, PermissionDenied):
        return SignInRejected("not_authorized", "The account could not be signed in.")
    return SignInRejected("rejected", f"The SAML library refused the response: {type(exception).__name__} {text}"[:500])


@never_cache
@require_GET
def sp_metadata(request: HttpRequest) -> HttpResponse:
    """The SP metadata XML for this host (its entity ID is this URL): stable, downloadable."""
    tenant = _tenant_or_404(request)
    xml = sp_metadata_xml(endpoints=sp_endpoints_for_request(request), organisation_name=tenant.name)
    response = HttpResponse(xml, content_type="application/samlmetadata+xml")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="portico-{tenant.slug}-sp-metadata.xml"'
    return response


@never_cache
@require_GET
def api_me(request: HttpRequest) -> JsonResponse:
    tenant = _tenant_or_404(request)
    if not request.user.is_authenticated:
        return JsonResponse({"error": "not_authenticated"}, status=401)
    return JsonResponse({"email": request.user.email, "tenant": tenant.slug,
                         "state": str(membership_state(user=request.user))})


@never_cache
@require_GET
def test_result(request: HttpRequest, reference: str) -> HttpResponse:
    tenant = _tenant_or_404(request)
    if not request.user.is_authenticated:
        return redirect(f"/login/?next=/sso/test/{reference}/")
    if not can_manage_sso(request.user):
        raise PermissionDenied
    attempt = attempt_for_tenant(tenant=tenant, reference=reference)
    if attempt is None:
        raise Http404
    return render(request, "sso/test_result.html", {
        "attempt": attempt, "headline": admin_headline(attempt.code),
        "response_xml": response_xml_readable(attempt.response_xml),
    })


@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        logout(request)
        return render(request, "sso/signed_out.html")
    return render(request, "sso/signed_out_confirm.html")
