"""SAML endpoints of a tenant host: SP-initiated login, the ACS, SP metadata, who am I, sign-out.

The views stay thin: sso.acs decides every posted response; djangosaml2/pysaml2 build the AuthnRequest
and keep the outstanding-request bookkeeping; provisioning owns users.
"""
from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from djangosaml2.cache import OutstandingQueriesCache
from djangosaml2.views import LoginView
from saml2.config import SPConfig

from provisioning.selectors import membership_state
from sso.acs import AcsBounce, AcsContext, AcsForm, AcsRefused, AcsTestDone, ClientMeta, acs_process
from sso.conf import IdpNotConfigured, idp_for_sign_in, saml_config_for, saml_config_for_draft
from sso.diagnosis import admin_headline, logout_user_message, user_message
from sso.login_hint import login_hint_clean, login_hint_mismatch_message, url_with_login_hint
from sso.request_signing import redirect_url_sign
from sso.selectors import (
    attempt_for_tenant,
    can_manage_sso,
    idp_draft_for_tenant,
    idp_for_tenant,
    response_xml_readable,
    sp_certificate_pem,
    sp_metadata_for,
)
from sso.slo import (
    LOGOUT_REQUESTS_KEY,
    SAML_SUBJECT_KEY,
    SloHonoured,
    SloLoggedOut,
    SloMessageIn,
    SloRefused,
    logout_requests_pending,
    slo_receive,
    slo_request_start,
)
from sso.sp import sp_endpoints_for_request
from sso.sp_keys import SpKeyUnreadable, sp_signing_key
from sso.types import SamlRequest, SamlSubject

logger = logging.getLogger("portico.sso")
TEST_REQUESTS_KEY = "portico_test_requests"
DRAFT_TESTS_KEY = "portico_draft_test_requests"  # request ID -> the draft version a test started for
# Request id → the address typed on the sign-in page (sent to the IdP as login_hint).
LOGIN_HINTS_KEY = "portico_login_hints"
ISSUED_KEY = "portico_request_issued"  # request ID -> when this browser's AuthnRequest was issued (epoch s)


def _expired_requests(request: SamlRequest, outstanding: dict) -> frozenset[str]:
    """Outstanding request IDs older than the TTL, or issued with no recorded time (fail closed)."""
    issued = request.saml_session.get(ISSUED_KEY, {})
    oldest = time.time() - settings.PORTICO_SAML_REQUEST_TTL_SECONDS
    return frozenset(rid for rid in outstanding if issued.get(rid, 0) < oldest)


def _tenant_or_404(request: SamlRequest):
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == "public":
        raise Http404("SSO lives on tenant hosts")
    return tenant


def _not_configured(request: SamlRequest) -> HttpResponse:
    return render(request, "sso/error.html", {
        "title": "Single sign-on isn't set up yet",
        "message": f"{request.tenant.name} hasn't connected its identity provider to Portico yet.",
        "advice": "Ask your organisation's Client Administrator to finish the SSO setup.",
    }, status=404)


@method_decorator(never_cache, name="dispatch")
class SsoLoginView(LoginView):
    """GET /sso/login/?next=/path — starts SP-initiated sign-in (HTTP-Redirect AuthnRequest)."""

    def get(self, request: SamlRequest, *args, **kwargs) -> HttpResponse:
        tenant = _tenant_or_404(request)
        # test=1 tests the live connection, test=draft the tenant's draft (sso.models.StagedConnection).
        self.is_test = request.GET.get("test") in ("1", "draft")
        if self.is_test and not can_manage_sso(request.user):
            raise PermissionDenied("Only a Client Administrator can run a test sign-in.")
        self.draft = idp_draft_for_tenant(tenant=tenant) if request.GET.get("test") == "draft" else None
        if request.GET.get("test") == "draft" and self.draft is None:
            messages.warning(request, "There is no draft connection to test any more: it was activated or discarded.")
            return redirect("sso_settings")
        if self.draft is None:
            try:
                self.idp = idp_for_sign_in(tenant)
            except IdpNotConfigured:
                return _not_configured(request)
        # `next` becomes the RelayState as djangosaml2 validated it (same host only); the ACS passes
        # the RelayState through safe_next again before redirecting, so that is the gate that counts.
        queries = OutstandingQueriesCache(request.saml_session)
        before = set(queries.outstanding_queries())
        response = super().get(request, *args, **kwargs)
        started = set(OutstandingQueriesCache(request.saml_session).outstanding_queries()) - before
        # djangosaml2 keeps no issue time; the ACS needs it to enforce PORTICO_SAML_REQUEST_TTL_SECONDS.
        issued = {rid: at for rid, at in request.saml_session.get(ISSUED_KEY, {}).items() if rid in before}
        request.saml_session[ISSUED_KEY] = {**issued, **{rid: time.time() for rid in started}}
        if self.is_test:
            tests = {**request.saml_session.get(TEST_REQUESTS_KEY, {}), **{rid: True for rid in started}}
            request.saml_session[TEST_REQUESTS_KEY] = tests
        # Request signing is an option of the live connection, which a draft inherits when activated.
        options = self.idp if self.draft is None else idp_for_tenant(tenant=tenant)
        if options is not None and options.sign_authn_requests and started and response.status_code == 302:
            try:
                key = sp_signing_key(tenant=tenant)
            except SpKeyUnreadable:
                logger.error("SP private key of tenant %s cannot be decrypted: PORTICO_KEY_ENCRYPTION_KEYS", tenant.slug)
                return render(request, "sso/error.html", {
                    "title": "Single sign-on can't start right now",
                    "message": "Portico cannot sign the sign-in request for your organisation.",
                    "advice": "Contact Portico support; nothing about your account has changed.",
                }, status=503)
            # Before login_hint: the hint stays outside the signed string (sso.request_signing).
            response["Location"] = redirect_url_sign(url=response["Location"], private_key_pem=key.private_key_pem)
        if self.draft is not None:
            # Which draft version each test request was started for: the ACS verifies its answer
            # against that draft only, and only if the draft is still that version.
            drafts = {rid: v for rid, v in request.saml_session.get(DRAFT_TESTS_KEY, {}).items() if rid in before}
            request.saml_session[DRAFT_TESTS_KEY] = {**drafts, **{rid: self.draft.version for rid in started}}
        hint = login_hint_clean(request.GET.get("login_hint"))
        if hint and started and response.status_code == 302:
            response["Location"] = url_with_login_hint(response["Location"], hint)
            # Kept per request: the ACS compares it with the address the IdP actually signed in.
            hints = {rid: h for rid, h in request.saml_session.get(LOGIN_HINTS_KEY, {}).items() if rid in before}
            request.saml_session[LOGIN_HINTS_KEY] = {**hints, **{rid: hint for rid in started}}
        return response

    def get_sp_config(self, request: SamlRequest) -> SPConfig:
        # djangosaml2's documented hook: the config of the IdP (or draft) this view already looked up.
        if self.draft is not None:
            return saml_config_for_draft(draft=self.draft, endpoints=sp_endpoints_for_request(request))
        return saml_config_for(idp=self.idp, endpoints=sp_endpoints_for_request(request))

    def should_prevent_auth(self, request: SamlRequest) -> bool:
        return request.user.is_authenticated and not self.is_test


@method_decorator(never_cache, name="dispatch")
@method_decorator(csrf_exempt, name="dispatch")  # the IdP posts cross-site; the response's signature is the proof
class AcsView(View):
    """POST /sso/acs/ — one call to sso.acs.acs_process, which verifies, decides and logs."""

    def post(self, request: SamlRequest) -> HttpResponse:
        tenant = _tenant_or_404(request)
        saml_response = request.POST.get("SAMLResponse", "")
        if not saml_response:
            return HttpResponseBadRequest("Missing SAMLResponse.")
        queries = OutstandingQueriesCache(request.saml_session)
        outstanding = queries.outstanding_queries()
        context = AcsContext(
            tenant=tenant, endpoints=sp_endpoints_for_request(request), outstanding=outstanding,
            expired_requests=_expired_requests(request, outstanding),
            keep_refused_body=getattr(request, "portico_keep_response_body", lambda: True),
            test_requests=frozenset(request.saml_session.get(TEST_REQUESTS_KEY, {})),
            draft_tests={rid: v for rid, v in request.saml_session.get(DRAFT_TESTS_KEY, {}).items()
                         if rid in outstanding},
            has_saml_session_cookie=settings.SAML_SESSION_COOKIE_NAME in request.COOKIES,
            client=ClientMeta(host=request.get_host(), remote_addr=request.META.get("REMOTE_ADDR"),
                              user_agent=request.META.get("HTTP_USER_AGENT", "")),
        )
        form = AcsForm(saml_response=saml_response, relay_state=request.POST.get("RelayState", ""),
                       bounced=request.POST.get("portico_bounce") == "1")
        try:
            outcome = acs_process(form=form, context=context)
        except IdpNotConfigured:
            return _not_configured(request)
        match outcome:
            case AcsBounce():
                return render(request, "sso/acs_bounce.html", {
                    "saml_response": outcome.saml_response, "relay_state": outcome.relay_state})
            case AcsRefused():
                title, advice = user_message(outcome.code)
                return render(request, "sso/error.html", {"title": title, "advice": advice,
                              "reference": outcome.reference, "retry_url": "/login/"}, status=outcome.status)
        # The request is answered: forget it, so the same InResponseTo never signs in twice.
        if outcome.answered_request:
            queries.delete(outcome.answered_request)
            _test_requests_forget(request, outcome.answered_request)
        if isinstance(outcome, AcsTestDone):
            return redirect("sso_test_result", reference=outcome.reference)
        typed = request.saml_session.get(LOGIN_HINTS_KEY, {}).get(outcome.answered_request or "")
        login(request, outcome.user)  # cycles the session key
        request.session[SAML_SUBJECT_KEY] = outcome.subject.as_session()
        # The SAML session cookie was readable before sign-in (and through the IdP round trip): a fresh
        # key, so a value planted or seen earlier does not follow the signed-in person.
        request.saml_session.cycle_key()
        notice = login_hint_mismatch_message(typed=typed, signed_in=outcome.user.email)
        if notice:
            messages.warning(request, notice)
        return redirect(outcome.redirect_to)


def _test_requests_forget(request: SamlRequest, request_id: str) -> None:
    tests = request.saml_session.get(TEST_REQUESTS_KEY, {})
    if request_id in tests:
        request.saml_session[TEST_REQUESTS_KEY] = {rid: True for rid in tests if rid != request_id}
    drafts = request.saml_session.get(DRAFT_TESTS_KEY, {})
    if request_id in drafts:
        request.saml_session[DRAFT_TESTS_KEY] = {rid: v for rid, v in drafts.items() if rid != request_id}


@never_cache
@require_GET
def sp_metadata(request: SamlRequest) -> HttpResponse:
    """The SP metadata XML for this host (its entity ID is this URL): stable, downloadable."""
    tenant = _tenant_or_404(request)
    xml = sp_metadata_for(tenant=tenant, endpoints=sp_endpoints_for_request(request))
    response = HttpResponse(xml, content_type="application/samlmetadata+xml")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="portico-{tenant.slug}-sp-metadata.xml"'
    return response


@never_cache
@require_GET
def sp_certificate(request: SamlRequest) -> HttpResponse:
    """A live SP certificate of the tenant as a .cer file, what Entra's Token encryption imports: PEM, the
    form of Entra's own "Certificate (Base64)" .cer download. The newest, or ?key=<id> for another live
    one. Public, like the metadata that lists them all."""
    tenant = _tenant_or_404(request)
    raw = request.GET.get("key")
    if raw is not None and not (raw.isascii() and raw.isdigit() and len(raw) < 19):
        raise Http404
    pem = sp_certificate_pem(tenant=tenant, key_id=int(raw) if raw else None)
    if pem is None:
        raise Http404
    response = HttpResponse(pem, content_type="application/x-pem-file")  # application/pkix-cert means DER
    response["Content-Disposition"] = f'attachment; filename="portico-{tenant.slug}-sp.cer"'
    return response


@never_cache
@require_GET
def api_me(request: SamlRequest) -> JsonResponse:
    tenant = _tenant_or_404(request)
    if not request.user.is_authenticated:
        return JsonResponse({"error": "not_authenticated"}, status=401)
    return JsonResponse({"email": request.user.email, "tenant": tenant.slug,
                         "state": str(membership_state(user=request.user))})


@never_cache
@require_GET
def test_result(request: SamlRequest, reference: str) -> HttpResponse:
    tenant = _tenant_or_404(request)
    if not request.user.is_authenticated:
        return redirect(f"/login/?next=/sso/test/{reference}/")
    if not can_manage_sso(request.user):
        raise PermissionDenied
    attempt = attempt_for_tenant(tenant=tenant, reference=reference)
    if attempt is None:
        raise Http404
    draft = idp_draft_for_tenant(tenant=tenant)
    return render(request, "sso/test_result.html", {
        "attempt": attempt, "headline": admin_headline(attempt.code), "claims": attempt.test_claims or {},
        "response_xml": response_xml_readable(attempt.response_xml),
        # Activate is offered right here when this very test passed the draft as it stands.
        "activatable": draft if draft is not None and draft.tested and draft.tested_reference == attempt.reference
        else None,
        "has_live": idp_for_tenant(tenant=tenant) is not None,
    })


@require_http_methods(["GET", "POST"])
def logout_view(request: SamlRequest) -> HttpResponse:
    """Sign out: the Portico session ends first, whatever the IdP does next; where the tenant's IdP has a
    logout URL, the browser then carries a signed LogoutRequest there (sso.slo)."""
    if request.method != "POST":
        return render(request, "sso/signed_out_confirm.html")
    subject = SamlSubject.from_session(request.session.get(SAML_SUBJECT_KEY))
    logout(request)
    request.saml_session.flush()  # its cookie is deleted on the way out (SamlSessionMiddleware)
    tenant = getattr(request, "tenant", None)
    start = None
    if tenant is not None:
        try:
            start = slo_request_start(tenant=tenant, endpoints=sp_endpoints_for_request(request), subject=subject)
        except SpKeyUnreadable:
            logger.exception("single logout not sent: the tenant's SP key cannot be read")
    if start is None:
        return render(request, "sso/signed_out.html", {"slo": "none"})
    # A fresh saml session holds only this: the LogoutResponse must answer a request this browser sent.
    request.saml_session[LOGOUT_REQUESTS_KEY] = {start.request_id: time.time()}
    return redirect(start.redirect_to)


@never_cache
@csrf_exempt  # the IdP sends it (a redirect or a cross-site POST); the message's signature is the proof
@require_http_methods(["GET", "POST"])
def slo(request: SamlRequest) -> HttpResponse:
    """/sso/slo/ — SingleLogoutService (HTTP-Redirect and HTTP-POST): the IdP's LogoutResponse to Portico's
    sign-out, or its own LogoutRequest. One call to sso.slo.slo_receive, which verifies, decides and records."""
    tenant = _tenant_or_404(request)
    pending = logout_requests_pending(request.saml_session)
    message = SloMessageIn(method=request.method or "GET", raw_query=request.META.get("QUERY_STRING", ""),
                           form=request.POST.dict() if request.method == "POST" else {},
                           host=request.get_host(), remote_addr=request.META.get("REMOTE_ADDR"))
    try:
        outcome = slo_receive(tenant=tenant, endpoints=sp_endpoints_for_request(request), message=message,
                              outstanding=pending)
    except IdpNotConfigured:
        return _not_configured(request)
    match outcome:
        case SloRefused():
            title, advice = logout_user_message(outcome.code)
            return render(request, "sso/error.html", {"title": title, "advice": advice,
                          "reference": outcome.reference, "retry_url": "/login/"}, status=outcome.status)
        case SloLoggedOut():
            request.saml_session[LOGOUT_REQUESTS_KEY] = {k: v for k, v in pending.items() if k != outcome.request_id}
            return render(request, "sso/signed_out.html",
                          {"slo": "done" if outcome.idp_signed_out else "idp_failed"})
        case SloHonoured():
            if request.user.is_authenticated and request.user.pk in outcome.user_ids:
                # Its row is gone already; without this the session middleware could save it again.
                logout(request)
            if outcome.redirect_to:
                return redirect(outcome.redirect_to)
            return render(request, "sso/signed_out.html", {"slo": "idp"})
    raise AssertionError(f"unhandled outcome {outcome!r}")  # pragma: no cover
