"""What provisioning adds to the Tenant admin (composed in portal/admin.py): who has access, and
support staff's "Unbind…" of a member's sign-in identity (with a confirmation page)."""
from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from provisioning.errors import ProvisioningError
from provisioning.selectors import membership_for_support, tenant_members_overview
from provisioning.services import member_unbind
from tenants.models import Tenant


class TenantMembersAdminMixin(admin.ModelAdmin):
    """The tenant list's "users" column and the tenant page's list of users (read in its schema)."""

    @admin.display(description="users")
    def members(self, obj: Tenant) -> str:
        counts = tenant_members_overview(tenant=obj, limit=0)["counts"]
        return f"{counts['active']} active · {counts['waiting_room']} waiting · {counts['disabled']} disabled"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        tenant = self.get_object(request, object_id)
        extra = {"members_overview": tenant_members_overview(tenant=tenant)} if tenant is not None else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def get_urls(self) -> list:
        site = self.admin_site
        own = [path("<int:tenant_id>/members/<int:membership_id>/unbind/", site.admin_view(self.unbind_view),
                    name="tenants_tenant_member_unbind")]
        return own + super().get_urls()

    def unbind_view(self, request: HttpRequest, tenant_id: int, membership_id: int) -> HttpResponse:
        """Confirm, then forget the member's IdP binding (provisioning.services.member_unbind)."""
        if not request.user.is_staff:
            raise PermissionDenied
        tenant = get_object_or_404(Tenant.objects.exclude(schema_name="public"), pk=tenant_id)
        membership = membership_for_support(tenant=tenant, membership_id=membership_id)
        if membership is None:
            raise Http404
        back = reverse("admin:tenants_tenant_change", args=[tenant.pk])
        if request.method == "POST":
            try:
                member_unbind(tenant=tenant, membership_id=membership.pk, actor=request.user)
            except ProvisioningError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"{membership.user.username} is no longer bound to an identity; their next "
                                          "sign-in binds them again.")
            return HttpResponseRedirect(back)
        context = {**self.admin_site.each_context(request), "title": "Unbind sign-in identity",
                   "tenant": tenant, "membership": membership, "back": back,
                   "opts": Tenant._meta}
        return TemplateResponse(request, "provisioning/admin/member_unbind.html", context)
