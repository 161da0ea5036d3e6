"""Support staff verify an email domain claim in Django admin (audited), or run its DNS check at once."""
from __future__ import annotations

import pytest

from tenants.models import AuditEvent, EmailDomain
from tenants.selectors import tenant_for_email
from tenants.services import tenant_email_domains_add

CHANGELIST = "/admin/tenants/emaildomain/"


def _action(client, action: str, *rows: EmailDomain, apply: bool = True):
    data = {"action": action, "_selected_action": [str(row.pk) for row in rows], **({"apply": "1"} if apply else {})}
    return client.post(CHANGELIST, data, follow=True)


def test_the_list_shows_which_domains_wait_for_verification(acme, support_client):
    tenant_email_domains_add(tenant=acme, domains=["admin-list.example"], actor="test")
    page = support_client.get(CHANGELIST).content.decode()
    assert "admin-list.example" in page and "waiting for verification" in page
    assert "Mark selected domains verified" in page


def test_support_staff_verify_a_claim_and_the_audit_log_names_them(acme, globex, support_client, support_user):
    (squat,) = tenant_email_domains_add(tenant=globex, domains=["admin-verify.example"], actor="test")
    (claim,) = tenant_email_domains_add(tenant=acme, domains=["admin-verify.example"], actor="test")
    confirm = _action(support_client, "verify_selected", claim, apply=False).content.decode()
    assert "Every address at @admin-verify.example is sent to Acme Property Management" in confirm
    assert "The pending claim of admin-verify.example by Globex Residential (globex) is removed." in confirm
    claim.refresh_from_db()
    assert claim.verified_at is None  # nothing changes before the confirmation
    response = _action(support_client, "verify_selected", claim)
    assert response.status_code == 200
    assert "Verified: admin-verify.example (acme)." in response.content.decode()
    claim.refresh_from_db()
    assert claim.verified_method == "support" and tenant_for_email(email="x@admin-verify.example") == acme
    event = AuditEvent.objects.get(tenant=acme, action="tenant.email_domain_verify", target="admin-verify.example")
    assert event.actor == f"support:{support_user.email}" and event.data["method"] == "support"
    assert not EmailDomain.objects.filter(pk=squat.pk).exists()
    assert AuditEvent.objects.filter(tenant=globex, action="tenant.email_domain_claim_remove").exists()


def test_support_cannot_verify_a_domain_under_another_tenants_verified_one(acme, support_client):
    # Created before globex.example's rule applied to it (e.g. an old row): verifying it is still refused.
    claim = EmailDomain.objects.create(tenant=acme, domain="eu.globex.example")
    response = _action(support_client, "verify_selected", claim)
    assert "Not verified: eu.globex.example (acme)" in response.content.decode()
    assert "reference DOMAIN-PARENT-TAKEN" in response.content.decode()
    claim.refresh_from_db()
    assert claim.verified_at is None


def test_support_can_run_the_dns_check_now(acme, support_client, local_dns):
    (claim,) = tenant_email_domains_add(tenant=acme, domains=["admin-dns.example"], actor="test")
    local_dns.txt_set("_portico.admin-dns.example", f"portico-verification={claim.verification_token}")
    response = _action(support_client, "check_dns_selected", claim)
    assert "DNS check of admin-dns.example (acme): verified." in response.content.decode()
    claim.refresh_from_db()
    assert claim.verified_method == "dns"


@pytest.mark.parametrize("action", ["verify_selected", "check_dns_selected"])
def test_staff_without_the_change_permission_cannot_run_the_actions(acme, action):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from tests.conftest import client_for

    viewer = get_user_model().objects.create_user(username="viewer", email="viewer@portico.example", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_emaildomain"))
    client = client_for("localhost")
    client.force_login(viewer, backend="django.contrib.auth.backends.ModelBackend")
    (claim,) = tenant_email_domains_add(tenant=acme, domains=["admin-perm.example"], actor="test")
    assert "Mark selected domains verified" not in client.get(CHANGELIST).content.decode()
    _action(client, action, claim)
    claim.refresh_from_db()
    assert claim.verified_at is None and claim.checked_at is None
