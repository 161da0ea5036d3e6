"""Support staff's Django admin (public host only): one New User request queue across all tenants,
and set-up links for new tenants' first Client Administrators.

The rows live in the public schema; approving one enters the request's tenant schema inside the
service (support.services.new_user_request_approve), never here.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from provisioning.errors import ProvisioningError
from provisioning.forms import RejectionForm
from provisioning.models import AccessLevel
from provisioning.selectors import audit_data_words, change_words, client_admin_emails, waiting_room_member_exists
from provisioning.types import BulkDecision
from support.models import NewUserRequest, SetupLink
from support.services import (
    APPROVAL_UNDO_WINDOW,
    new_user_request_approval_undo,
    new_user_request_approve,
    new_user_request_preview,
    new_user_request_reject,
    new_user_requests_approve,
    new_user_requests_reject,
    setup_link_create,
)
from tenants.admin import TenantFilter
from tenants.audit import audit_action_phrase
from tenants.models import AuditEvent, Tenant
from tenants.selectors import email_domains_of
from tenants.types import signed_in_user

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices
    from django.contrib.admin.views.main import ChangeList


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("day", "Less than a day"), ("week", "1 to 7 days"), ("older", "More than 7 days")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        day, week = now - timedelta(days=1), now - timedelta(days=7)
        if self.value() == "day":
            return queryset.filter(created__gte=day)
        if self.value() == "week":
            return queryset.filter(created__lt=day, created__gte=week)
        if self.value() == "older":
            return queryset.filter(created__lt=week)
        return queryset


class StatusFilter(admin.SimpleListFilter):
    """Pending unless asked otherwise: the queue is what waits for a decision. "All" is a value of
    its own (not the absence of one), so it stays reachable; the parameter keeps the name of the
    plain field filter it replaces, so bookmarked queue URLs still work."""

    title = "status"
    parameter_name = "status__exact"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(self.ALL, "All"), *NewUserRequest.Status.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        # Only pages default to Pending: an action posted from one acts on exactly the rows selected,
        # so a row another agent decided meanwhile is reported as decided, not silently dropped.
        if value is None and request.method in ("GET", "HEAD"):
            value = NewUserRequest.Status.PENDING
        if value in (None, self.ALL):
            return queryset
        return queryset.filter(status=value)

    def choices(self, changelist: ChangeList) -> Iterator[_ListFilterChoices]:
        current = self.value() or NewUserRequest.Status.PENDING
        for lookup, title in self.lookup_choices:
            yield {"selected": current == lookup, "display": title,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup})}


def _level_label(value: str) -> str:
    level = AccessLevel.parse(value or "")
    return level.label if level else value


def _report(request: HttpRequest, outcome: BulkDecision, verb: str) -> None:
    if outcome.decided:
        count = len(outcome.decided)
        messages.success(request, f"{verb} {count} request{'s' if count != 1 else ''}.")
    for request_id, why in outcome.skipped.items():
        messages.warning(request, f"Request #{request_id} not {verb.lower()}: {why}")


@admin.register(NewUserRequest)
class NewUserRequestAdmin(admin.ModelAdmin):
    list_display = ("email", "tenant_name", "access_asked_for", "requested_by", "waiting_since", "signed_in_already",
                    "status_badge")
    list_display_links = ("email",)
    list_filter = (StatusFilter, TenantFilter, AgeFilter)
    search_fields = ("email",)
    search_help_text = "Search by the e-mail address of the person asked for."
    list_select_related = ("tenant",)
    ordering = ("-created",)
    actions = ("approve_selected", "reject_selected")
    change_form_template = "support/admin/newuserrequest_change_form.html"
    fieldsets = (
        ("Request", {"fields": ("tenant", "email", "first_name", "last_name", "access_level_display",
                                "properties_display", "requested_by", "requested_from_property", "created")}),
        ("Decision", {"fields": ("status_badge", "decided_by_display", "decided_at", "rejection_reason",
                                 "decision_summary")}),
        ("History", {"fields": ("audit_trail",)}),
    )
    readonly_fields = ("tenant", "email", "first_name", "last_name", "access_level_display", "properties_display",
                       "requested_by", "requested_from_property", "created", "status_badge", "decided_by_display",
                       "decided_at", "rejection_reason", "decision_summary", "audit_trail")

    # -- columns and read-only fields ------------------------------------------------------

    @admin.display(description="Tenant", ordering="tenant__name")
    def tenant_name(self, obj: NewUserRequest) -> str:
        return obj.tenant.name

    @admin.display(description="Access level", ordering="access_level")
    def access_level_display(self, obj: NewUserRequest) -> str:
        return _level_label(obj.access_level)

    @admin.display(description="Access asked for", ordering="access_level")
    def access_asked_for(self, obj: NewUserRequest) -> str:
        return f"{_level_label(obj.access_level)} · {self.properties_display(obj)}"

    @admin.display(description="Properties")
    def properties_display(self, obj: NewUserRequest) -> str:
        return ", ".join(p.get("name") or p.get("code", "?") for p in obj.properties) or "—"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: NewUserRequest) -> str:
        colours = {"pending": "#9a6700", "approved": "#1d7a46", "rejected": "#b42318", "withdrawn": "#5b6675"}
        return format_html('<strong style="color:{}">{}</strong>', colours.get(obj.status, "inherit"),
                           obj.get_status_display())

    @admin.display(description="Waiting since", ordering="created")
    def waiting_since(self, obj: NewUserRequest) -> str:
        return format_html('{}<br><span class="quiet">{} ago</span>', date_format(obj.created, "DATETIME_FORMAT"),
                           timesince(obj.created))

    @admin.display(description="Signed in already")
    def signed_in_already(self, obj: NewUserRequest) -> str:
        waiting = waiting_room_member_exists(tenant=obj.tenant, email=obj.email)
        return "Yes, in the Waiting Room" if waiting else "No"

    @admin.display(description="Requested by")
    def requested_by(self, obj: NewUserRequest) -> str:
        name = obj.requested_by_name or ""
        return f"{name} <{obj.requested_by_email}>" if name else obj.requested_by_email

    @admin.display(description="Decided by")
    def decided_by_display(self, obj: NewUserRequest) -> str:
        return obj.decided_by_label or (str(obj.decided_by) if obj.decided_by_id else "—")

    @admin.display(description="What the decision changed")
    def decision_summary(self, obj: NewUserRequest) -> str:
        if obj.status == NewUserRequest.Status.PENDING:
            return "Not decided yet."
        if obj.status in (NewUserRequest.Status.REJECTED, NewUserRequest.Status.WITHDRAWN):
            return f"Nothing: the request was {obj.get_status_display().lower()}."
        data = obj.decision_changes or {}
        rows = []
        if data.get("user_created"):
            rows.append(("User account", "created (the person had never signed in)"))
        names = {p.get("code"): p.get("name") for p in obj.properties if p.get("code")}
        for line in change_words(data.get("changes") or {}, property_names=names):
            field, _, words = line.partition(": ")
            rows.append((field, words))
        if data.get("properties_missing"):
            rows.append(("Not granted", "no longer exist: " + ", ".join(data["properties_missing"])))
        if not rows:
            return "Nothing: the person already had this access."
        return format_html("<ul>{}</ul>", format_html_join("", "<li><strong>{}</strong>: {}</li>", rows))

    @admin.display(description="Audit trail")
    def audit_trail(self, obj: NewUserRequest) -> str:
        events = AuditEvent.objects.filter(tenant=obj.tenant, target__iexact=obj.email).order_by("created", "id")
        names = {p.get("code"): p.get("name") for p in obj.properties if p.get("code")}
        rows = [(date_format(e.created, "DATETIME_FORMAT"), audit_action_phrase(e.action), e.actor.split(":", 1)[-1],
                 audit_data_words(e.data, property_names=names)) for e in events[:50]]
        if not rows:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join(
            "", "<li>{} · <strong>{}</strong> by {}<br><span class=\"quiet\">{}</span></li>", rows))

    # -- permissions: requests are made on tenant hosts and only decided here ---------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: NewUserRequest | None = None) -> bool:
        return False  # the queue is the record of who asked for what

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        return super().changelist_view(request, {**(extra_context or {}),
                                                 "title": "Support inbox: New User requests"})

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False,
                         "show_save_and_add_another": False, "show_delete": False}
        return super().change_view(request, object_id, form_url, extra_context)

    # -- single decisions from the change page ----------------------------------------------

    def get_urls(self):
        urls = super().get_urls()
        own = [
            path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view),
                 name="support_newuserrequest_approve"),
            path("<int:pk>/undo/", self.admin_site.admin_view(require_POST(self.undo_view)),
                 name="support_newuserrequest_undo"),
            path("<int:pk>/reject/", self.admin_site.admin_view(self.reject_view),
                 name="support_newuserrequest_reject"),
        ]
        return own + urls

    def _change_url(self, pk: int) -> str:
        return reverse("admin:support_newuserrequest_change", args=[pk])

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        row = get_object_or_404(NewUserRequest, pk=pk)
        if not self.has_change_permission(request, row):
            return HttpResponse(status=403)
        if request.method != "POST":  # the confirmation: what approving changes, in words
            return TemplateResponse(request, "support/admin/approve_request.html", {
                **self.admin_site.each_context(request), "opts": self.model._meta, "original": row,
                "title": f"Approve the request for {row.email}?",
                "changes": new_user_request_preview(new_user_request=row) if row.status == "pending" else [],
                "cancel_url": self._change_url(pk),
            })
        try:
            new_user_request_approve(new_user_request=row, actor=signed_in_user(request))
        except ProvisioningError as exc:
            messages.error(request, f"Not approved: {exc.message}")
        else:
            minutes = int(APPROVAL_UNDO_WINDOW.total_seconds() // 60)
            messages.success(request, f"Approved: {row.email} can now sign in to {row.tenant.name}. "
                                      f"Made a mistake? Undo approval is on this page for {minutes} minutes.")
        return HttpResponseRedirect(self._change_url(pk))

    def undo_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        row = get_object_or_404(NewUserRequest, pk=pk)
        if not self.has_change_permission(request, row):
            return HttpResponse(status=403)
        try:
            new_user_request_approval_undo(new_user_request=row, actor=signed_in_user(request))
        except ProvisioningError as exc:
            messages.error(request, f"Not undone: {exc.message}")
        else:
            messages.success(request, f"Approval undone: {row.email}'s access is as it was before, and the request "
                                      "is pending again. They have been e-mailed.")
        return HttpResponseRedirect(self._change_url(pk))

    def render_change_form(self, request, context, *args, **kwargs):
        original = context.get("original")
        context["can_undo"] = bool(original and original.status == "approved" and original.decided_at
                                   and original.decided_at >= timezone.now() - APPROVAL_UNDO_WINDOW)
        return super().render_change_form(request, context, *args, **kwargs)

    def reject_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        row = get_object_or_404(NewUserRequest, pk=pk)
        if not self.has_change_permission(request, row):
            return HttpResponse(status=403)
        form = RejectionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                new_user_request_reject(new_user_request=row, actor=signed_in_user(request), reason=form.cleaned_data["reason"])
            except ProvisioningError as exc:
                messages.error(request, f"Not rejected: {exc.message}")
            else:
                messages.success(request, f"Rejected the request for {row.email}; the requester is told why.")
            return HttpResponseRedirect(self._change_url(pk))
        return self._rejection_page(request, form=form, rows=[row], bulk=False)

    def _rejection_page(self, request: HttpRequest, *, form: RejectionForm, rows: list, bulk: bool) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Reject New User requests" if bulk else f"Reject the request for {rows[0].email}",
            "form": form,
            "rows": rows,
            "bulk": bulk,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "cancel_url": reverse("admin:support_newuserrequest_changelist") if bulk else self._change_url(rows[0].pk),
        }
        return TemplateResponse(request, "support/admin/reject_requests.html", context)

    # -- bulk actions ------------------------------------------------------------------------

    @admin.action(description="Approve selected New User requests…", permissions=["change"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[NewUserRequest]) -> HttpResponse | None:
        rows = list(queryset.select_related("tenant").order_by("created"))
        if "apply" in request.POST:
            _report(request, new_user_requests_approve(request_ids=[r.pk for r in rows], actor=signed_in_user(request)),
                    "Approved")
            return None
        return TemplateResponse(request, "support/admin/approve_requests.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": f"Approve {len(rows)} New User request{'s' if len(rows) != 1 else ''}?",
            "rows": [(r, new_user_request_preview(new_user_request=r) if r.status == "pending" else []) for r in rows],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "cancel_url": reverse("admin:support_newuserrequest_changelist"),
        })

    @admin.action(description="Reject selected New User requests…", permissions=["change"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[NewUserRequest]) -> HttpResponse | None:
        form = RejectionForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            ids = list(queryset.order_by("created").values_list("pk", flat=True))
            _report(request, new_user_requests_reject(request_ids=ids, actor=signed_in_user(request),
                                                      reason=form.cleaned_data["reason"]), "Rejected")
            return None
        return self._rejection_page(request, form=form, rows=list(queryset.select_related("tenant")), bulk=True)


# --- Set-up links ---------------------------------------------------------------------------------


class SetupLinkForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254,
                             help_text="The customer's administrator: they become a Client Administrator.")


class SetupLinkStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("open", "Not used yet"), ("used", "Used"), ("expired", "Expired unused")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "open":
            return queryset.filter(used_at__isnull=True, expires_at__gt=now)
        if self.value() == "used":
            return queryset.filter(used_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(used_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(SetupLink)
class SetupLinkAdmin(admin.ModelAdmin):
    """Read-only: which set-up links were sent, by whom, and whether they were used. A link is
    sent from its tenant's page ("Send set-up link"); only its hash is kept, so it is never shown here."""

    list_display = ("email", "tenant", "state", "created_by", "created", "expires_at", "used_at")
    list_filter = (SetupLinkStateFilter, TenantFilter)
    search_fields = ("email",)
    list_select_related = ("tenant", "created_by")
    fields = ("tenant", "email", "state", "created_by", "created", "expires_at", "used_at")
    readonly_fields = fields

    @admin.display(description="State")
    def state(self, obj: SetupLink) -> str:
        if obj.used_at is not None:
            return "Used"
        return "Expired" if obj.expires_at <= timezone.now() else "Not used yet"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SetupLink | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SetupLink | None = None) -> bool:
        return False

    def get_urls(self):
        own = [path("send/<int:tenant_id>/", self.admin_site.admin_view(self.send_view),
                    name="support_setuplink_send")]
        return own + super().get_urls()

    def send_view(self, request: HttpRequest, tenant_id: int) -> HttpResponse:
        tenant = get_object_or_404(Tenant.objects.exclude(schema_name="public"), pk=tenant_id)
        if not request.user.has_perm("support.add_setuplink"):
            raise PermissionDenied
        form = SetupLinkForm(request.POST or None)
        sent: tuple[SetupLink, str] | None = None
        if request.method == "POST" and form.is_valid():
            try:
                sent = setup_link_create(tenant=tenant, email=form.cleaned_data["email"], actor=signed_in_user(request))
            except ProvisioningError as exc:
                form.add_error("email" if exc.field == "email" else None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "tenant_opts": Tenant._meta,
            "title": f"Send a set-up link for {tenant.name}",
            "tenant": tenant,
            "email_domains": email_domains_of(tenant=tenant),
            "form": form,
            "client_admins": client_admin_emails(tenant=tenant),
            "hours": settings.PORTICO_SETUP_LINK_HOURS,
            # Shown on this response only: SetupLink keeps just the token's hash.
            "link": sent[0] if sent else None,
            "url": sent[1] if sent else "",
            "has_view_permission": True,
        }
        return TemplateResponse(request, "support/admin/setup_link_send.html", context)
