"""Support staff's audited "Unbind…" of a member's IdP binding, in Django admin (issue 9)."""
from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from provisioning.errors import NotAllowed
from provisioning.models import Membership
from provisioning.services import member_unbind
from tenants.models import AuditEvent
from tests.provisioning.factories import member_create, membership_find


def _bound(email: str = "bound.person@acme.example") -> Membership:
    user = member_create(email=email)
    with schema_context("acme"):
        Membership.objects.filter(user=user).update(idp_entity_id="https://sts.windows.net/t/", idp_object_id="oid-1")
        return Membership.objects.select_related("user").get(user=user)


def test_support_unbinds_after_a_confirmation_page_and_it_is_audited(acme, support_client):
    membership = _bound()
    tenant_page = support_client.get(f"/admin/tenants/tenant/{acme.pk}/change/").content.decode()
    url = f"/admin/tenants/tenant/{acme.pk}/members/{membership.pk}/unbind/"
    assert url in tenant_page and "oid-1" in tenant_page
    confirm = support_client.get(url)
    assert confirm.status_code == 200 and "oid-1" in confirm.content.decode()
    assert membership_find(membership.user.username).idp_object_id == "oid-1"  # looking changes nothing
    response = support_client.post(url)
    assert response.status_code == 302 and response["Location"] == f"/admin/tenants/tenant/{acme.pk}/change/"
    after = membership_find(membership.user.username)
    assert after.idp_object_id == "" and after.idp_entity_id == "" and after.bound_at is None
    event = AuditEvent.objects.get(action="member.unbind", target=membership.user.username)
    assert event.actor == "support:ana@portico.example" and event.data["object_id"] == "oid-1"


def test_only_support_staff_unbind(acme, acme_ca, as_member):
    membership = _bound()
    with pytest.raises(NotAllowed):
        member_unbind(tenant=acme, membership_id=membership.pk, actor=acme_ca)
    with pytest.raises(NotAllowed):
        member_unbind(tenant=acme, membership_id=membership.pk, actor="cli")
    assert as_member(acme_ca).get(f"/admin/tenants/tenant/{acme.pk}/members/{membership.pk}/unbind/").status_code == 404
    assert membership_find(membership.user.username).idp_object_id == "oid-1"


def test_an_anonymous_or_password_only_visitor_gets_the_sign_in(acme, public_client):
    membership = _bound()
    response = public_client.post(f"/admin/tenants/tenant/{acme.pk}/members/{membership.pk}/unbind/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert membership_find(membership.user.username).idp_object_id == "oid-1"
