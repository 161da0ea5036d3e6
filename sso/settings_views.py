"""The SSO settings page of a tenant's Client Administrator, and the sign-in attempt detail page."""
from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from sso.diagnosis import admin_headline
from sso.errors import SsoConfigError, SsoConfigNeedsConfirm
from sso.forms import ConfigErrorMixin, EmailDomainForm, ManualForm, MetadataUploadForm, MetadataUrlForm, OptionsForm
from sso.models import IdentityProvider, StagedConnection
from sso.selectors import (
    attempt_for_tenant,
    can_manage_sso,
    certificate_statuses,
    certificate_warning,
    connection_history,
    idp_draft_for_tenant,
    idp_for_tenant,
    idp_previous_for_tenant,
    response_xml_readable,
    sign_in_attempts_recent,
    staged_certificates,
)
from sso.services import (
    idp_draft_activate,
    idp_draft_discard,
    idp_draft_from_metadata,
    idp_draft_from_url,
    idp_draft_manual,
    idp_options_update,
    idp_rollback,
)
from sso.sp import sp_endpoints, sp_endpoints_for_request
from tenants.domain_verification import verification_record_name, verification_record_value
from tenants.errors import TenantError
from tenants.models import EmailDomain, Tenant
from tenants.selectors import email_domain_of_tenant, email_domain_rows_of
from tenants.services import (
    email_domain_dns_check,
    email_domain_normalize,
    tenant_email_domain_remove,
    tenant_email_domains_add,
)
from tenants.types import DomainCheck, EmailDomainRefusal, MemberRequest

SETTINGS_PATH = "/sso/settings/"
# The ACS (sso/views.py) recognises a test sign-in by test=1 (the live connection) or test=draft
# (the draft) and shows its own result page.
TEST_SIGN_IN_URL = f"/sso/login/?test=1&next={SETTINGS_PATH}"
TEST_DRAFT_URL = f"/sso/login/?test=draft&next={SETTINGS_PATH}"


def client_administrator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Tenant hosts only; anonymous users go to sign-in, other access levels get the 403 page."""

    @wraps(view)
    def wrapper(request: MemberRequest, *args: object, **kwargs: object) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.is_public:
            raise Http404
        if not request.user.is_authenticated:
            return redirect(f"/login/?{urlencode({'next': request.get_full_path()})}")
        if not can_manage_sso(request.user):
            raise PermissionDenied("Only a Client Administrator can manage single sign-on.")
        return view(request, *args, **kwargs)

    return wrapper


def _request_too_large(request: MemberRequest) -> bool:
    # Django's own cap leaves file parts out; check the whole body before anything reads it.
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE


@never_cache
@require_http_methods(["GET", "POST"])
@client_administrator_required
def sso_settings(request: MemberRequest) -> HttpResponse:
    tenant: Tenant = request.tenant
    idp = idp_for_tenant(tenant=tenant)
    bound: dict[str, forms.Form] = {}
    page_error = ""
    status = 200
    if request.method == "POST":
        if _request_too_large(request):
            page_error = (f"That upload is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)} MB, "
                          "the most Portico accepts. Nothing was changed.")
            status = 413
        else:
            action = request.POST.get("action", "")
            handler = _ACTIONS.get(action)
            if handler is None:
                return HttpResponse("Unknown action.", status=400, content_type="text/plain")
            outcome = handler(request, tenant, idp)
            if isinstance(outcome, HttpResponse):
                return outcome
            bound[action] = outcome
    return render(request, "sso/settings.html", _page_context(request, tenant, idp, bound, page_error), status=status)


# A confirmation tagged with its section is shown inside that section, right where the redirect's
# anchor scrolls to; base.html leaves such messages out of its banner at the top of the page.
SECTION_TAG = "section-"


def _done(request: MemberRequest, message: str, anchor: str, level: int = messages.SUCCESS) -> HttpResponse:
    messages.add_message(request, level, message, extra_tags=f"{SECTION_TAG}{anchor}")
    return redirect(f"{SETTINGS_PATH}#{anchor}")


# Input that raised warnings waits here (this session only) for the admin's "Save the draft anyway".
PENDING_KEY = "portico_sso_pending_draft"


def _configure(request: MemberRequest, form: ConfigErrorMixin, call: Callable[..., StagedConnection],
               pending: Callable[[], dict[str, object]], what: str) -> HttpResponse | forms.Form:
    if not form.is_valid():
        return form
    try:
        draft = call(confirm=False)
    except SsoConfigNeedsConfirm as exc:
        token = secrets.token_urlsafe(16)
        request.session[PENDING_KEY] = {"token": token, "what": what, **pending()}
        form.pending_warnings = exc.warnings  # type: ignore[attr-defined]
        form.confirm_token = token  # type: ignore[attr-defined]
        return form
    except SsoConfigError as exc:
        form.add_config_error(exc)
        return form
    return _draft_done(request, draft, what)


def _draft_done(request: MemberRequest, draft: StagedConnection, what: str) -> HttpResponse:
    count = len(draft.certificate_pems)
    live = idp_for_tenant(tenant=draft.tenant)
    still = (f"Sign-ins keep using the live connection ({live.entity_id}) until you activate it."
             if live is not None else "Nobody signs in through it until you activate it.")
    return _done(request, f"Draft saved: {draft.entity_id} ({what}, {count} signing certificate"
                          f"{'' if count == 1 else 's'}). {still} Press Test sign-in on the draft first.", "idp")


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode("utf-8")).decode("ascii")


def _action_upload(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    form = MetadataUploadForm(request.POST, request.FILES, prefix="upload")
    return _configure(request, form, lambda confirm: idp_draft_from_metadata(
        tenant=tenant, document=form.cleaned_data["metadata_file"], actor=request.user, confirm=confirm),
        lambda: {"kind": "upload", "document": _b64(form.cleaned_data["metadata_file"])},
        "from the uploaded metadata")


def _action_url(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    form = MetadataUrlForm(request.POST, prefix="url")
    return _configure(request, form, lambda confirm: idp_draft_from_url(
        tenant=tenant, url=form.cleaned_data["metadata_url"], actor=request.user, confirm=confirm),
        lambda: {"kind": "url", "url": form.cleaned_data["metadata_url"]}, "from the metadata URL")


def _action_manual(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    form = ManualForm(request.POST, request.FILES, prefix="manual")
    return _configure(request, form, lambda confirm: idp_draft_manual(
        tenant=tenant, sso_url=form.cleaned_data["sso_url"], entity_id=form.cleaned_data["entity_id"],
        certificates=form.cleaned_data["certificates"], actor=request.user, confirm=confirm),
        lambda: {"kind": "manual", "sso_url": form.cleaned_data["sso_url"], "entity_id": form.cleaned_data["entity_id"],
                 "certificates": [_b64(c) for c in form.cleaned_data["certificates"]]}, "entered by hand")


def _action_confirm_draft(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    pending = request.session.get(PENDING_KEY) or {}
    if not pending or pending.get("token") != request.POST.get("token"):
        return _done(request, "That confirmation is no longer valid: nothing was saved. Save the connection again.",
                     "idp", level=messages.WARNING)
    del request.session[PENDING_KEY]
    kind, actor = pending.get("kind"), request.user
    try:
        if kind == "upload":
            draft = idp_draft_from_metadata(tenant=tenant, document=base64.b64decode(pending["document"]),
                                            actor=actor, confirm=True)
        elif kind == "url":
            draft = idp_draft_from_url(tenant=tenant, url=str(pending["url"]), actor=actor, confirm=True)
        else:
            draft = idp_draft_manual(tenant=tenant, sso_url=str(pending["sso_url"]), entity_id=str(pending["entity_id"]),
                                     # bytes: certificate_parse reads PEM, base64 and raw DER alike
                                     certificates=[base64.b64decode(c) for c in pending["certificates"]],
                                     actor=actor, confirm=True)
    except SsoConfigError as exc:
        return _done(request, f"{exc} Nothing was saved.", "idp", level=messages.ERROR)
    return _draft_done(request, draft, str(pending.get("what", "")))


def _action_activate(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    try:
        live = idp_draft_activate(tenant=tenant, actor=request.user)
    except SsoConfigError as exc:
        return _done(request, f"{exc} Nothing was changed.", "idp", level=messages.WARNING)
    kept = " The connection it replaced is kept: Roll back restores it." if idp is not None else ""
    return _done(request, f"Activated: everyone now signs in through {live.entity_id}.{kept}", "idp")


def _action_rollback(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    try:
        live = idp_rollback(tenant=tenant, actor=request.user)
    except SsoConfigError as exc:
        return _done(request, f"{exc} Nothing was changed.", "idp", level=messages.WARNING)
    return _done(request, f"Rolled back: everyone now signs in through {live.entity_id} again. "
                          "Roll back once more to return to the connection you just left.", "idp")


def _action_draft_discard(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    if not idp_draft_discard(tenant=tenant, actor=request.user):
        return _done(request, "There was no draft to discard.", "idp", level=messages.WARNING)
    return _done(request, "Draft discarded. The live connection is unchanged.", "idp")


def _action_domain_add(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    form = EmailDomainForm(request.POST, prefix="domain")
    if not form.is_valid():
        return form
    try:
        added = tenant_email_domains_add(tenant=tenant, domains=[form.cleaned_data["domain"]], actor=request.user)
    except TenantError as exc:
        form.add_error("domain", str(exc))
        return form
    if not added:
        domain = form.cleaned_data["domain"].strip().lower().lstrip("@")
        return _done(request, f"{domain} was already one of your domains.", "domains")
    return _done(request, f"Added {added[0].domain}. Publish the DNS TXT record shown below, then press Verify now: "
                          "until it is verified, it routes nobody to your sign-in.", "domains")


def _not_yours(request: MemberRequest, domain: str) -> HttpResponse:
    return _done(request, f"{domain or 'That domain'} is not one of your email domains. "
                          f"(reference {EmailDomainRefusal.not_yours})", "domains", level=messages.WARNING)


def _posted_domain(request: MemberRequest) -> str:
    """The posted domain in its one canonical form, or "" for anything that is not a domain (NUL bytes...)."""
    try:
        return email_domain_normalize((request.POST.get("domain") or "")[:300])
    except TenantError:
        return ""


def _action_domain_remove(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    domain = _posted_domain(request)
    if not domain or email_domain_of_tenant(tenant=tenant, domain=domain) is None:
        return _not_yours(request, domain)
    tenant_email_domain_remove(tenant=tenant, domain=domain, actor=request.user)
    return _done(request, f"Removed {domain}: its users no longer see your sign-in button.", "domains")


_CHECK_MESSAGES: dict[str, tuple[int, str]] = {
    DomainCheck.verified: (messages.SUCCESS, "Verified {domain}: its users now sign in through your identity "
                                             "provider."),
    DomainCheck.already_verified: (messages.SUCCESS, "{domain} is already verified."),
    DomainCheck.not_found: (messages.WARNING, "No TXT record found at {name} yet. DNS changes can take a while to "
                                              "appear; Portico also checks by itself every few minutes. "
                                              f"(reference {EmailDomainRefusal.dns_not_found})"),
    DomainCheck.mismatch: (messages.WARNING, "{name} has TXT records, but none is {value}. Check the value was "
                                             f"copied whole. (reference {EmailDomainRefusal.dns_mismatch})"),
    DomainCheck.dns_error: (messages.WARNING, "Portico could not get an answer from DNS for {name} just now; it will "
                                              f"try again by itself. (reference {EmailDomainRefusal.dns_error})"),
    DomainCheck.taken: (messages.WARNING, "The record is right, but {domain} (or a domain it is under) is already "
                                          "verified by another organisation on Portico. Contact Portico support. "
                                          f"(reference {EmailDomainRefusal.taken})"),
}


def _action_domain_verify(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    domain = _posted_domain(request)
    row = email_domain_of_tenant(tenant=tenant, domain=domain) if domain else None
    if row is None:
        return _not_yours(request, domain)
    outcome = email_domain_dns_check(email_domain_id=row.pk, actor=request.user)
    if outcome == DomainCheck.gone:
        return _not_yours(request, domain)
    level, text = _CHECK_MESSAGES[outcome]
    return _done(request, text.format(domain=row.domain, name=verification_record_name(row.domain),
                                      value=verification_record_value(row.verification_token)), "domains", level=level)


def _action_options(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None) -> HttpResponse | forms.Form:
    form = OptionsForm(request.POST, prefix="options")
    if idp is None:
        form.add_error(None, "Connect your identity provider first.")
        return form
    if not form.is_valid():
        return form
    try:
        idp_options_update(idp=idp, actor=request.user, **form.options())
    except SsoConfigError as exc:
        form.add_error("group_access_levels" if exc.field == "group_access_levels" else None, str(exc))
        return form
    return _done(request, "Options saved.", "options")


_ACTIONS: dict[str, Callable[[MemberRequest, Tenant, IdentityProvider | None], HttpResponse | forms.Form]] = {
    "upload": _action_upload, "url": _action_url, "manual": _action_manual,
    "confirm_draft": _action_confirm_draft, "activate": _action_activate, "rollback": _action_rollback,
    "draft_discard": _action_draft_discard,
    "domain_add": _action_domain_add, "domain_remove": _action_domain_remove, "domain_verify": _action_domain_verify,
    "options": _action_options,
}


def _page_context(request: MemberRequest, tenant: Tenant, idp: IdentityProvider | None, bound: dict[str, forms.Form],
                  page_error: str) -> dict[str, object]:
    endpoints = sp_endpoints_for_request(request)
    current_host = endpoints.host.split(":")[0].lower()
    other_hosts = [
        sp_endpoints(host=host, scheme="https" if request.is_secure() else None)
        for host in tenant.domains.order_by("-is_primary", "domain").values_list("domain", flat=True)
        if host != current_host
    ]
    options_form = bound.get("options") or (OptionsForm(initial=OptionsForm.initial_for(idp), prefix="options")
                                            if idp is not None else None)
    # Which configuration tab to open: the one just submitted, else the IdP's current source.
    open_tab = next((name for name in ("upload", "url", "manual") if name in bound),
                    getattr(idp, "source", "upload") or "upload")
    draft = idp_draft_for_tenant(tenant=tenant)
    pending = next((form for form in bound.values() if getattr(form, "pending_warnings", None)), None)
    return {
        "draft": draft, "draft_certificates": staged_certificates(staged=draft) if draft is not None else [],
        "previous": idp_previous_for_tenant(tenant=tenant) if idp is not None else None,
        "history": connection_history(tenant=tenant),
        "pending_warnings": getattr(pending, "pending_warnings", []),
        "confirm_token": getattr(pending, "confirm_token", ""),
        "test_draft_url": TEST_DRAFT_URL,
        "tenant": tenant, "idp": idp, "sp": endpoints, "other_hosts": other_hosts,
        "certificates": certificate_statuses(idp=idp) if idp is not None else [],
        "certificate_warning": certificate_warning(idp=idp) if idp is not None else "",
        "email_domains": [_domain_row(row) for row in email_domain_rows_of(tenant=tenant)],
        "attempts": sign_in_attempts_recent(tenant=tenant),
        "upload_form": bound.get("upload") or MetadataUploadForm(prefix="upload"),
        "url_form": bound.get("url") or MetadataUrlForm(
            prefix="url", initial={"metadata_url": getattr(idp, "metadata_url", "")}),
        "manual_form": bound.get("manual") or ManualForm(prefix="manual", initial=(
            {"sso_url": idp.sso_url, "entity_id": idp.entity_id} if idp is not None else {})),
        "domain_form": bound.get("domain_add") or EmailDomainForm(prefix="domain"),
        "options_form": options_form,
        "open_tab": open_tab,
        "page_error": page_error,
        "test_sign_in_url": TEST_SIGN_IN_URL,
        "warning_days": settings.PORTICO_CERT_EXPIRY_WARNING_DAYS,
    }


def _domain_row(row: EmailDomain) -> dict[str, object]:
    return {"domain": row.domain, "verified": row.is_verified, "verified_at": row.verified_at,
            "record_name": verification_record_name(row.domain),
            "record_value": verification_record_value(row.verification_token),
            "checked_at": row.checked_at, "check_result": row.check_result}


@never_cache
@require_GET
@client_administrator_required
def sign_in_attempt_detail(request: MemberRequest, reference: str) -> HttpResponse:
    attempt = attempt_for_tenant(tenant=request.tenant, reference=reference)
    if attempt is None:
        raise Http404
    return render(request, "sso/attempt_detail.html", {
        "attempt": attempt, "headline": admin_headline(attempt.code),
        "response_xml": response_xml_readable(attempt.response_xml),
    })
