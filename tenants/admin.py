"""Django admin of the public schema's own models, and pieces other apps' admins reuse."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from tenants.errors import TenantError
from tenants.models import AuditEvent, Domain, EmailDomain, Tenant
from tenants.routing import routing_invalidate
from tenants.selectors import email_domain_claims_superseded
from tenants.services import (
    audit_record,
    email_domain_dns_check,
    email_domain_normalize,
    email_domain_verified_mark,
    email_domains_check_claimable,
    host_normalize,
    tenant_email_domain_remove,
    tenant_email_domains_add,
    tenant_host_primary_set,
    tenant_hosts_add,
    tenant_hosts_remove,
)
from tenants.types import DomainCheck, signed_in_user


class TenantFilter(admin.SimpleListFilter):
    """Every customer tenant, whether or not it has requests yet (the public site never has any)."""

    title = "tenant"
    parameter_name = "tenant"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(t.pk), t.name) for t in Tenant.objects.exclude(schema_name="public").order_by("name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(tenant_id=self.value()) if self.value() else queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# --- Tenants, their hosts and email domains ----------------------------------------------------------------------------------------------


class DomainInlineForm(forms.ModelForm):
    class Meta:
        model = Domain
        fields = ["domain", "is_primary"]

    def clean_domain(self) -> str:
        try:
            return host_normalize(self.cleaned_data["domain"])
        except TenantError as exc:
            raise forms.ValidationError(str(exc)) from exc


class HostFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        kept = [f for f in self.forms
                if f not in self.deleted_forms and f.cleaned_data.get("domain")]
        if kept and sum(1 for f in kept if f.cleaned_data.get("is_primary")) != 1:
            raise forms.ValidationError("Exactly one host name must be primary (it is the one links and e-mails use).")


class DomainInline(admin.TabularInline):
    model = Domain
    form = DomainInlineForm
    formset = HostFormSet
    extra = 0
    verbose_name = "host name"
    verbose_name_plural = "host names (each serves the tenant's portal and its own SAML Identifier and Reply URL)"


class EmailDomainInlineForm(forms.ModelForm):
    class Meta:
        model = EmailDomain
        fields = ["domain"]

    def clean_domain(self) -> str:
        try:
            domain = email_domain_normalize(self.cleaned_data["domain"])
        except TenantError as exc:
            raise forms.ValidationError(str(exc)) from exc
        try:
            email_domains_check_claimable([domain], tenant=getattr(self.instance, "tenant", None))
        except TenantError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return domain


class EmailDomainInline(admin.TabularInline):
    model = EmailDomain
    form = EmailDomainInlineForm
    extra = 0
    readonly_fields = ["verified_at", "verified_method"]
    verbose_name_plural = ("email domains (email-first discovery: one tenant per verified domain; one added here "
                           "waits for verification, see Email domains)")


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """The tenant itself; feature apps add columns and panels through mixins composed in portal/admin.py."""

    list_display = ["slug", "name", "status", "hosts", "email_domains_list"]
    list_filter = ["status"]
    search_fields = ["slug", "name", "domains__domain", "email_domains__domain"]
    fields = ["slug", "name", "status", "brand_colour", "schema_name", "created"]
    readonly_fields = ["slug", "schema_name", "created"]
    inlines = [DomainInline, EmailDomainInline]

    # Feature apps' mixins (composed in portal/admin.py) name the relations their columns read.
    list_select_related_extra: tuple[str, ...] = ()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        queryset = super().get_queryset(request).exclude(schema_name="public").prefetch_related("domains", "email_domains")
        return queryset.select_related(*self.list_select_related_extra) if self.list_select_related_extra else queryset

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # `manage.py tenant_create`: creates the schema, validates the slug, audits

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        return False  # dropping a customer's schema is a deliberate operator step

    @admin.display(description="hosts")
    def hosts(self, obj: Tenant) -> str:
        return ", ".join(d.domain for d in obj.domains.all())

    @admin.display(description="email domains")
    def email_domains_list(self, obj: Tenant) -> str:
        return ", ".join(d.domain + ("" if d.is_verified else " (pending)") for d in obj.email_domains.all()) or "—"

    def save_model(self, request: HttpRequest, obj: Tenant, form: forms.ModelForm, change: bool) -> None:
        obj.save()
        transaction.on_commit(routing_invalidate)  # status or name: cached routing must not serve the old row
        if form.changed_data:
            audit_record(actor=signed_in_user(request), action="tenant.update", tenant=obj, target=obj.slug,
                         data={name: str(form.cleaned_data.get(name)) for name in form.changed_data})

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: forms.BaseModelFormSet,
                     change: bool) -> None:
        tenant: Tenant = form.instance
        if formset.model is EmailDomain:
            self._email_domains_save(request, tenant, formset)
        elif formset.model is Domain:
            self._hosts_save(request, tenant, formset)
        else:  # pragma: no cover - no other inlines
            super().save_formset(request, form, formset, change)

    def _email_domains_save(self, request: HttpRequest, tenant: Tenant, formset: forms.BaseModelFormSet) -> None:
        # Through the services, so the one-tenant-per-domain rule and the audit record hold here too.
        # The admin's change message reads what a formset's save() would have recorded.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline in formset.deleted_forms:
            if inline.instance.pk:
                tenant_email_domain_remove(tenant=tenant, domain=inline.instance.domain, actor=signed_in_user(request))
                formset.deleted_objects.append(inline.instance)
        for inline in formset.forms:
            if inline in formset.deleted_forms or not inline.has_changed() or not inline.cleaned_data.get("domain"):
                continue
            if inline.instance.pk:
                old = EmailDomain.objects.get(pk=inline.instance.pk).domain
                tenant_email_domain_remove(tenant=tenant, domain=old, actor=signed_in_user(request))
            added = tenant_email_domains_add(tenant=tenant, domains=[inline.cleaned_data["domain"]], actor=signed_in_user(request))
            formset.new_objects.extend(added)

    def _hosts_save(self, request: HttpRequest, tenant: Tenant, formset: forms.BaseModelFormSet) -> None:
        # Through the services (uniqueness across tenants, audit, routing invalidation). Added first,
        # then the primary moved, then removed: the primary host is never removed (HostFormSet.clean).
        actor = signed_in_user(request)
        added: list[str] = []
        removed = [inline.instance.domain for inline in formset.deleted_forms if inline.instance.pk]
        primary = None
        for inline in formset.forms:
            if inline in formset.deleted_forms or not inline.cleaned_data.get("domain"):
                continue
            host = inline.cleaned_data["domain"]
            old = Domain.objects.get(pk=inline.instance.pk).domain if inline.instance.pk else None
            if host != old:
                added.append(host)
                if old:
                    removed.append(old)
            if inline.cleaned_data.get("is_primary"):
                primary = host
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if added:
            formset.new_objects.extend(tenant_hosts_add(tenant=tenant, hosts=added, actor=actor))
        if primary:
            tenant_host_primary_set(tenant=tenant, host=primary, actor=actor)
        if removed:
            tenant_hosts_remove(tenant=tenant, hosts=removed, actor=actor)


@admin.register(Domain)
class DomainAdmin(ReadOnlyAdmin):
    """Every host name and its tenant; edited on the tenant's page, where the uniqueness check and audit run."""

    list_display = ["domain", "tenant", "is_primary"]
    search_fields = ["domain"]
    list_select_related = ["tenant"]


@admin.register(EmailDomain)
class EmailDomainAdmin(ReadOnlyAdmin):
    """Which tenant each email domain signs in through; added and removed on the tenant's page.

    Support staff verify a claim here when its owner proved it another way (the action is audited
    under their name), or run the DNS check at once.
    """

    list_display = ["domain", "tenant", "verification_status", "verified_method", "checked_at", "check_result",
                    "created"]
    list_filter = [("verified_at", admin.EmptyFieldListFilter), "verified_method"]
    search_fields = ["domain", "tenant__slug", "tenant__name"]
    list_select_related = ["tenant"]
    actions = ["verify_selected", "check_dns_selected"]

    def has_verify_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff and request.user.has_perm("tenants.change_emaildomain")

    @admin.display(description="status", ordering="verified_at")
    def verification_status(self, obj: EmailDomain) -> str:
        return f"verified {obj.verified_at:%Y-%m-%d %H:%M}" if obj.verified_at else "waiting for verification"

    @admin.action(description="Mark selected domains verified (ownership checked by support)…",
                  permissions=["verify"])
    def verify_selected(self, request: HttpRequest, queryset: QuerySet[EmailDomain]) -> TemplateResponse | None:
        if "apply" not in request.POST:  # first say in words what verifying changes
            rows = list(queryset.select_related("tenant").order_by("domain"))
            return TemplateResponse(request, "tenants/admin/verify_email_domains.html", {
                **self.admin_site.each_context(request), "opts": self.model._meta,
                "title": f"Verify {len(rows)} email domain{'s' if len(rows) != 1 else ''}?",
                "rows": [(row, [] if row.verified_at else email_domain_claims_superseded(email_domain=row))
                         for row in rows],
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "cancel_url": reverse("admin:tenants_emaildomain_changelist"),
            })
        done, refused = [], []
        for row in queryset.filter(verified_at__isnull=True).select_related("tenant"):
            try:
                email_domain_verified_mark(email_domain=row, method=EmailDomain.Method.SUPPORT, actor=signed_in_user(request))
            except TenantError as exc:
                refused.append(f"{row.domain} ({row.tenant.slug}): {exc}")
            else:
                done.append(f"{row.domain} ({row.tenant.slug})")
        if done:
            self.message_user(request, f"Verified: {', '.join(done)}.", messages.SUCCESS)
        for text in refused:
            self.message_user(request, f"Not verified: {text}", messages.ERROR)
        if not done and not refused:
            self.message_user(request, "The selected domains were already verified.", messages.INFO)
        return None

    @admin.action(description="Check the DNS TXT record of selected domains now", permissions=["verify"])
    def check_dns_selected(self, request: HttpRequest, queryset: QuerySet[EmailDomain]) -> None:
        for row in queryset.select_related("tenant"):
            outcome = email_domain_dns_check(email_domain_id=row.pk, actor=signed_in_user(request))
            level = messages.SUCCESS if outcome in (DomainCheck.verified, DomainCheck.already_verified) else messages.WARNING
            self.message_user(request, f"DNS check of {row.domain} ({row.tenant.slug}): {outcome}.", level)


_AUDIT_FIELDS = ("created", "tenant", "actor", "action", "target", "data")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created", "tenant", "actor", "action", "target"]
    list_filter = ["action", "tenant"]
    search_fields = ["actor", "target", "action"]
    list_select_related = ["tenant"]
    date_hierarchy = "created"
    fields = _AUDIT_FIELDS
    readonly_fields = _AUDIT_FIELDS
