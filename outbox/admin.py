"""The outbound e-mail log in Django admin: read-only, with "queue again" for unsent rows and
"send again" (audited) for any row."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from outbox.models import OutboundEmail
from outbox.services import ResendRefused, emails_queue_again, outbound_email_resend
from tenants.admin import TenantFilter
from tenants.types import signed_in_user


class SentFilter(admin.SimpleListFilter):
    title = "sent"
    parameter_name = "sent"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Sent"), ("no", "Not sent yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(sent_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(sent_at__isnull=True)
        return queryset


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    """Read-only: what Portico sent (or still owes) whom."""

    list_display = ("subject", "recipients", "kind", "tenant", "created", "sent_at", "attempts")
    list_filter = ("kind", SentFilter, TenantFilter)
    search_fields = ("subject", "to")
    list_select_related = ("tenant",)
    actions = ("queue_again", "resend_selected")
    exclude = ("sealed",)  # encrypted credentials: never shown
    readonly_fields = ("tenant", "kind", "to", "subject", "body_text", "body_html", "created", "sent_at", "attempts",
                       "last_error", "dedupe_key")

    @admin.display(description="To")
    def recipients(self, obj: OutboundEmail) -> str:
        return ", ".join(obj.to)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboundEmail | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboundEmail | None = None) -> bool:
        return False

    @admin.action(description="Queue selected unsent e-mails again", permissions=["view"])
    def queue_again(self, request: HttpRequest, queryset: QuerySet[OutboundEmail]) -> None:
        count = emails_queue_again(outbound_email_ids=list(queryset.values_list("pk", flat=True)))
        messages.success(request, f"Queued {count} unsent e-mail{'s' if count != 1 else ''} again.")

    @admin.action(description="Send selected e-mails again (to the same people)", permissions=["view"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[OutboundEmail]) -> None:
        for row in queryset:
            try:
                outbound_email_resend(outbound_email_id=row.pk, actor=signed_in_user(request))
            except ResendRefused as exc:
                messages.warning(request, f"“{row.subject}” not sent again: {exc}")
            else:
                messages.success(request, f"“{row.subject}” is being sent again to {', '.join(row.to)}.")
