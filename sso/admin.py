"""Django admin for support staff on the central host: tenants' IdP connections and sign-in health.

Every change goes through the same services as the customer's settings page and the command line,
so it is validated the same way and leaves the same audit record.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Min, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from provisioning.models import AccessLevel
from sso.errors import SsoConfigError
from sso.forms import AttributeMappingFields, ConfigErrorMixin, OptionsForm, upload_read
from sso.models import IdentityProvider, IdpCertificate, SignInAttempt
from sso.selectors import certificate_status, response_xml_readable
from sso.services import (
    idp_configure_from_metadata,
    idp_configure_from_url,
    idp_configure_manual,
    idp_metadata_refresh,
    idp_options_update,
)
from sso.sp import sp_endpoints
from sso.types import IdpOptions
from tenants.admin import ReadOnlyAdmin
from tenants.models import Tenant
from tenants.types import signed_in_user

# --- What sso adds to the Tenant admin (composed in portal/admin.py) ------------------------------------


class TenantSsoAdminMixin:
    """The tenant list's "single sign-on" column: its IdP connection, or a link to connect one."""

    list_select_related_extra: tuple[str, ...] = ("identity_provider",)

    @admin.display(description="single sign-on")
    def sso(self, obj: Tenant) -> str:
        idp = getattr(obj, "identity_provider", None)
        if idp is None:
            url = reverse("admin:sso_identityprovider_configure_new") + f"?tenant={obj.pk}"
            return format_html('<a href="{}">connect…</a>', url)
        url = reverse("admin:sso_identityprovider_change", args=[idp.pk])
        return format_html('<a href="{}">{}</a>', url, idp.display_name)


# --- Identity providers ---------------------------------------------------------------------------------


_CERTIFICATE_FIELDS = ("subject", "fingerprint_sha256", "not_before", "not_after", "expiry", "expiry_warning_sent_at")


class IdpCertificateInline(admin.TabularInline):
    model = IdpCertificate
    extra = 0
    can_delete = False
    fields = _CERTIFICATE_FIELDS
    readonly_fields = _CERTIFICATE_FIELDS
    verbose_name_plural = "signing certificates (all trusted; replaced by (re)configuring)"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="status")
    def expiry(self, obj: IdpCertificate) -> str:
        status = certificate_status(certificate=obj)
        return _badge(status.badge, status.label)


class IdpOptionsAdminForm(forms.ModelForm, AttributeMappingFields):
    """The options of the customer's settings page, validated by the same OptionsForm. Groups map to
    levels up to Client Administrator here too: provisioning never grants Support from a group."""

    class Meta:
        model = IdentityProvider
        fields = ["display_name", "allow_idp_initiated", "restrict_email_domains"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name, value in OptionsForm.initial_for(self.instance).items():
                self.initial.setdefault(name, value)
        self.cleaned_options: IdpOptions | None = None  # set by clean() when the options are valid

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        options = OptionsForm(data=self.data, prefix=self.prefix, max_access_level=AccessLevel.CLIENT_ADMINISTRATOR)
        if options.is_valid():
            self.cleaned_options = options.options()
        else:
            for name, errors in options.errors.items():
                for error in errors:
                    self.add_error(None if name == "__all__" else name, error)
        return cleaned


class AdminConfigureForm(ConfigErrorMixin, forms.Form):
    """(Re)configure a tenant's IdP from an upload, a URL or by hand: the services of the settings page."""

    METHODS = [("upload", "Federation Metadata XML file"), ("url", "Metadata URL (refreshed daily)"),
               ("manual", "Login URL + Identifier + certificate")]
    INITIATED = [("", "Leave as it is"), ("allow", "Allow IdP-initiated sign-in"),
                 ("refuse", "Refuse IdP-initiated sign-in")]

    tenant = forms.ModelChoiceField(queryset=Tenant.objects.exclude(schema_name="public").order_by("slug"))
    method = forms.ChoiceField(choices=METHODS, widget=forms.RadioSelect, initial="upload")
    metadata_file = forms.FileField(required=False, label="Federation Metadata XML")
    metadata_url = forms.CharField(required=False, max_length=2048, label="Metadata URL")
    sso_url = forms.CharField(required=False, max_length=2048, label="Login URL (SSO URL)")
    entity_id = forms.CharField(required=False, max_length=1024, label="IdP entity ID (Microsoft Entra Identifier)")
    certificate = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
                                  label="Certificate (Base64/PEM)")
    additional_certificate = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
                                             label="Second certificate (rotation)")
    allow_idp_initiated = forms.ChoiceField(choices=INITIATED, required=False, label="IdP-initiated sign-in")
    email_domains = forms.CharField(required=False, label="Add email domains",
                                    help_text="Comma separated; each must not belong to another tenant.")

    error_fields = {"metadata": "metadata_file", "metadata_url": "metadata_url", "sso_url": "sso_url",
                    "entity_id": "entity_id", "certificate": "certificate", "email_domains": "email_domains"}

    def clean_metadata_file(self) -> bytes | None:
        upload = self.cleaned_data.get("metadata_file")
        return upload_read(upload, what="metadata file") if upload else None

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        method = cleaned.get("method")
        if method == "upload" and not cleaned.get("metadata_file") and "metadata_file" not in self.errors:
            self.add_error("metadata_file", "Choose the Federation Metadata XML file.")
        if method == "url" and not (cleaned.get("metadata_url") or "").strip():
            self.add_error("metadata_url", "Give the metadata URL.")
        if method == "manual":
            for name, label in (("sso_url", "the Login URL"), ("entity_id", "the IdP entity ID"),
                                ("certificate", "the signing certificate")):
                if not (cleaned.get(name) or "").strip():
                    self.add_error(name, f"Give {label}.")
        cleaned["domains"] = [d.strip() for d in (cleaned.get("email_domains") or "").split(",") if d.strip()]
        cleaned["initiated"] = {"allow": True, "refuse": False}.get(cleaned.get("allow_idp_initiated") or "")
        return cleaned

    def configure(self, *, actor: object) -> IdentityProvider:
        data = self.cleaned_data
        common = {"tenant": data["tenant"], "actor": actor, "allow_idp_initiated": data["initiated"],
                  "email_domains": data["domains"]}
        if data["method"] == "upload":
            return idp_configure_from_metadata(document=data["metadata_file"], **common)
        if data["method"] == "url":
            return idp_configure_from_url(url=data["metadata_url"].strip(), **common)
        certificates = [c for c in (data["certificate"], data.get("additional_certificate")) if c and c.strip()]
        return idp_configure_manual(sso_url=data["sso_url"], entity_id=data["entity_id"], certificates=certificates,
                                    **common)


@admin.register(IdentityProvider)
class IdentityProviderAdmin(admin.ModelAdmin):
    form = IdpOptionsAdminForm
    change_form_template = "sso/admin/idp_change_form.html"
    list_display = ["tenant", "display_name", "source", "last_success", "last_failure",
                    "certificate_expiry", "refresh_problem"]
    list_filter = ["source", "allow_idp_initiated"]
    search_fields = ["tenant__slug", "tenant__name", "entity_id"]
    list_select_related = ["tenant"]
    inlines = [IdpCertificateInline]
    actions = ["refresh_metadata_now"]
    readonly_fields = ["tenant", "entity_id", "sso_url", "slo_url", "source", "metadata_url", "metadata_fetched_at",
                       "metadata_refresh_error", "metadata_refresh_failed_at", "last_success_at",
                       "last_failure_at", "sp_values", "version", "created", "updated"]
    fieldsets = [
        ("Connection (change with “Reconfigure”)", {"fields": [
            "tenant", "entity_id", "sso_url", "slo_url", "source", "metadata_url", "sp_values"]}),
        ("Health", {"fields": ["last_success_at", "last_failure_at", "metadata_fetched_at", "metadata_refresh_error",
                               "metadata_refresh_failed_at", "version", "created", "updated"]}),
        ("Options", {"fields": ["display_name", "allow_idp_initiated", "restrict_email_domains"]}),
        ("Attribute mapping", {"fields": ["attr_email", "attr_first_name", "attr_last_name", "attr_display_name",
                                          "attr_object_id", "attr_groups", "group_access_levels"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[IdentityProvider]:
        return super().get_queryset(request).annotate(soonest_expiry=Min("certificates__not_after"))

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # disconnecting SSO locks a tenant out; it is not a list-page action

    # --- health columns ---

    @admin.display(description="last successful sign-in", ordering="last_success_at")
    def last_success(self, obj: IdentityProvider) -> str:
        return _ago(obj.last_success_at)

    @admin.display(description="last failure", ordering="last_failure_at")
    def last_failure(self, obj: IdentityProvider) -> str:
        return _ago(obj.last_failure_at)

    @admin.display(description="certificate expiry (soonest)", ordering="soonest_expiry")
    def certificate_expiry(self, obj: IdentityProvider) -> str:
        soonest = getattr(obj, "soonest_expiry", None)
        if soonest is None:
            return _badge("bad", "no certificate")
        days = (soonest - timezone.now()).days
        badge = "bad" if days < 0 else "warn" if days <= settings.PORTICO_CERT_EXPIRY_WARNING_DAYS else "ok"
        label = "expired" if days < 0 else f"in {days} days"
        return format_html("{} {}", soonest.strftime("%Y-%m-%d"), _badge(badge, label))

    @admin.display(description="metadata refresh error")
    def refresh_problem(self, obj: IdentityProvider) -> str:
        if not obj.metadata_refresh_error:
            return "—"
        return _badge("bad", obj.metadata_refresh_error[:80], title=obj.metadata_refresh_error)

    @admin.display(description="values for the IdP")
    def sp_values(self, obj: IdentityProvider) -> str:
        rows = []
        for host in obj.tenant.domains.order_by("-is_primary", "domain").values_list("domain", flat=True):
            sp = sp_endpoints(host=host)
            rows.append((host, sp.entity_id, sp.acs_url, sp.sign_on_url))
        return format_html(
            "<table><tr><th>host</th><th>Identifier</th><th>Reply URL</th><th>Sign on URL</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    # --- saving: options only, through the service ---

    def save_model(self, request: HttpRequest, obj: IdentityProvider, form: IdpOptionsAdminForm, change: bool) -> None:
        idp = IdentityProvider.objects.get(pk=obj.pk)
        assert form.cleaned_options is not None  # save_model runs only for a valid form
        updated = idp_options_update(idp=idp, actor=signed_in_user(request), **form.cleaned_options)
        form.instance = updated

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool) -> None:
        # Certificates are read-only here (replaced only by reconfiguring); record "nothing saved" for
        # the admin's change message.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    # --- (re)configure ---

    def get_urls(self) -> list:
        urls = super().get_urls()
        own = [
            path("configure/", self.admin_site.admin_view(self.configure_view),
                 name="sso_identityprovider_configure_new"),
            path("<int:pk>/configure/", self.admin_site.admin_view(self.configure_view),
                 name="sso_identityprovider_configure"),
        ]
        return own + urls

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:sso_identityprovider_configure_new"))

    def configure_view(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        if not self.has_change_permission(request) or not self.has_add_permission(request):
            raise PermissionDenied
        idp = get_object_or_404(IdentityProvider.objects.select_related("tenant"), pk=pk) if pk else None
        initial: dict[str, object] = {"method": "upload"}
        if idp is not None:
            initial.update(tenant=idp.tenant, method=idp.source, metadata_url=idp.metadata_url, sso_url=idp.sso_url,
                           entity_id=idp.entity_id)
        elif request.GET.get("tenant"):
            initial["tenant"] = request.GET["tenant"]
        if request.method == "POST":
            form = AdminConfigureForm(request.POST, request.FILES, initial=initial)
            if idp is not None:
                form.fields["tenant"].disabled = True
            if form.is_valid():
                try:
                    saved = form.configure(actor=request.user)
                except SsoConfigError as exc:
                    form.add_config_error(exc)
                else:
                    self.message_user(request, f"Saved: {saved.tenant.slug} now trusts {saved.entity_id} "
                                               f"({saved.certificates.count()} signing certificate(s)).",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:sso_identityprovider_change", args=[saved.pk]))
        else:
            form = AdminConfigureForm(initial=initial)
            if idp is not None:
                form.fields["tenant"].disabled = True
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "form": form, "idp": idp,
            "title": (f"Reconfigure single sign-on for {idp.tenant.slug}" if idp
                      else "Connect a tenant's identity provider"),
            "has_view_permission": True,
        }
        return render(request, "sso/admin/configure.html", context)

    @admin.action(description="Refresh metadata from its URL now")
    def refresh_metadata_now(self, request: HttpRequest, queryset: QuerySet[IdentityProvider]) -> None:
        for idp in queryset.select_related("tenant"):
            if idp.source != IdentityProvider.Source.URL or not idp.metadata_url:
                self.message_user(request, f"{idp.tenant.slug}: not configured from a URL; nothing to refresh.",
                                  messages.WARNING)
            elif idp_metadata_refresh(idp=idp):
                self.message_user(request, f"{idp.tenant.slug}: metadata refreshed.", messages.SUCCESS)
            else:
                idp.refresh_from_db()
                self.message_user(request, f"{idp.tenant.slug}: refresh failed, the last good copy stays in use: "
                                           f"{idp.metadata_refresh_error}", messages.ERROR)


_BADGE_COLOURS = {"ok": ("#e7f5ec", "#1d7a46"), "warn": ("#fff6e0", "#9a6700"), "bad": ("#fdecea", "#b42318")}


def _badge(kind: str, label: str, *, title: str = "") -> str:
    background, colour = _BADGE_COLOURS.get(kind, ("#eef1f5", "#1c2430"))
    return format_html('<span title="{}" style="background:{};color:{};padding:1px 8px;border-radius:999px;'
                       'font-weight:600;white-space:nowrap">{}</span>', title or label, background, colour, label)


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M")


# --- Sign-in attempts and audit ------------------------------------------------------------------------------


_ATTEMPT_FIELDS = ("reference", "created", "tenant", "outcome", "code", "message", "email", "is_test", "idp_initiated",
                   "host", "issuer", "in_response_to", "remote_addr", "user_agent", "response")


@admin.register(SignInAttempt)
class SignInAttemptAdmin(ReadOnlyAdmin):
    list_display = ["created", "tenant", "outcome", "code", "email", "is_test", "idp_initiated", "reference"]
    list_filter = ["tenant", "outcome", "code", "is_test", "idp_initiated"]
    search_fields = ["=reference", "email"]
    list_select_related = ["tenant"]
    date_hierarchy = "created"
    fields = _ATTEMPT_FIELDS
    readonly_fields = _ATTEMPT_FIELDS

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        # References are upper case wherever users read them out; email search ignores case anyway.
        return super().get_search_results(request, queryset, search_term.strip().upper())

    @admin.display(description="SAML response (decoded)")
    def response(self, obj: SignInAttempt) -> str:
        if not obj.response_xml:
            return "—"
        return format_html('<pre style="white-space: pre-wrap; max-height: 40rem; overflow: auto">{}</pre>',
                           response_xml_readable(obj.response_xml))
