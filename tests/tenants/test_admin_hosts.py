"""The Tenant admin's host names go through tenants.services (audit, uniqueness, routing)."""
from __future__ import annotations

from tenants.models import AuditEvent, Domain, Tenant


def _tenant_form(tenant: Tenant, hosts: list[tuple[Domain | None, str, bool]]) -> dict[str, str]:
    """The change form as the admin posts it: the tenant's email domains unchanged, these host rows."""
    email_domains = list(tenant.email_domains.order_by("id"))
    data = {"name": tenant.name, "status": tenant.status, "brand_colour": "",
            "domains-TOTAL_FORMS": str(len(hosts)),
            "domains-INITIAL_FORMS": str(sum(1 for row, _, _ in hosts if row is not None)),
            "domains-MIN_NUM_FORMS": "0", "domains-MAX_NUM_FORMS": "1000",
            "email_domains-TOTAL_FORMS": str(len(email_domains)),
            "email_domains-INITIAL_FORMS": str(len(email_domains)),
            "email_domains-MIN_NUM_FORMS": "0", "email_domains-MAX_NUM_FORMS": "1000"}
    for index, (row, host, primary) in enumerate(hosts):
        data.update({f"domains-{index}-tenant": str(tenant.pk), f"domains-{index}-domain": host})
        if row is not None:
            data[f"domains-{index}-id"] = str(row.pk)
        if primary:
            data[f"domains-{index}-is_primary"] = "on"
    for index, email_domain in enumerate(email_domains):
        data.update({f"email_domains-{index}-id": str(email_domain.pk),
                     f"email_domains-{index}-tenant": str(tenant.pk),
                     f"email_domains-{index}-domain": email_domain.domain})
    return data


def test_admin_host_edits_are_audited_service_calls(acme, support_client):
    primary = acme.domains.get(is_primary=True)
    others = list(acme.domains.filter(is_primary=False).order_by("id"))
    rows = [(primary, primary.domain, False), *[(row, row.domain, False) for row in others],
            (None, "ACME-New.localhost", True)]
    response = support_client.post(f"/admin/tenants/tenant/{acme.pk}/change/", _tenant_form(acme, rows))

    assert response.status_code == 302
    assert acme.domains.get(is_primary=True).domain == "acme-new.localhost"
    assert acme.domains.filter(domain=primary.domain, is_primary=False).exists()
    actions = set(AuditEvent.objects.filter(tenant=acme).values_list("action", flat=True))
    assert {"tenant.hosts_add", "tenant.host_primary_set"} <= actions


def test_admin_refuses_to_leave_a_tenant_without_one_primary_host(acme, support_client):
    before = sorted(acme.domains.values_list("domain", "is_primary"))
    rows = [(row, row.domain, False) for row in acme.domains.order_by("id")]
    response = support_client.post(f"/admin/tenants/tenant/{acme.pk}/change/", _tenant_form(acme, rows))

    assert response.status_code == 200
    assert "Exactly one host name must be primary" in response.content.decode()
    assert sorted(acme.domains.values_list("domain", "is_primary")) == before
