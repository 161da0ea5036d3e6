"""Directory sync meets sign-in: real signed SAML from the test IdP, real sessions in the tenant schema."""
from __future__ import annotations

import uuid
from uuid import NAMESPACE_URL, uuid5

from django.contrib.sessions.models import Session
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership
from tenants.models import AuditEvent
from tests.conftest import client_for
from tests.provisioning.factories import membership_find, member_create, unique_email
from tests.scim.conftest import entra_user, patch_op


def _object_id(idp, email: str) -> str:
    """The objectidentifier claim the test IdP sends for this address (stable, like Entra's oid)."""
    return str(uuid5(NAMESPACE_URL, f"{idp.entity_id}#{email.lower()}"))


def test_first_sso_sign_in_lands_on_the_scim_account_bound_by_object_id(scim_plain, acme_idp, sso_sign_in):
    email = unique_email("first")
    created = scim_plain.post("Users", entra_user(user_name=email, external_id=_object_id(acme_idp, email))).json()
    scim_user_pk = membership_find(email).user.pk
    browser = client_for("acme.localhost")
    response = sso_sign_in(browser, email)
    assert response.status_code == 302 and response["Location"] == "/waiting-room/"
    assert browser.get("/api/me").json()["email"] == email
    member = membership_find(email)
    assert member.user.pk == scim_user_pk and member.last_sso_at is not None
    assert created["id"]


def test_suspended_scim_user_is_refused_sso_even_with_a_valid_assertion(scim_plain, acme, acme_idp, sso_sign_in):
    email = unique_email("suspended")
    created = scim_plain.post("Users", entra_user(user_name=email, external_id=_object_id(acme_idp, email))).json()
    with schema_context("acme"):
        Membership.objects.filter(user__username=email).update(state=Membership.State.ACTIVE,
                                                              access_level=AccessLevel.TECHNICIAN)
    scim_plain.patch(f"Users/{created['id']}", patch_op({"op": "Replace", "path": "active", "value": "False"}))
    browser = client_for("acme.localhost")
    response = sso_sign_in(browser, email)
    assert response.status_code == 403
    assert browser.get("/api/me").status_code == 401
    assert membership_find(email).state == Membership.State.SUSPENDED  # not revived
    assert AuditEvent.objects.filter(tenant=acme, action="sign_in.refused", target=email,
                                     data__code="member_suspended").exists()


def test_deleted_scim_user_is_refused_sso(scim_plain, acme_idp, sso_sign_in):
    email = unique_email("gone")
    created = scim_plain.post("Users", entra_user(user_name=email, external_id=_object_id(acme_idp, email))).json()
    scim_plain.delete(f"Users/{created['id']}")
    browser = client_for("acme.localhost")
    assert sso_sign_in(browser, email).status_code == 403
    assert membership_find(email).state == Membership.State.DEPROVISIONED


def test_sign_in_with_the_email_of_an_account_bound_to_another_object_id_is_refused(scim_plain, acme, sso_sign_in):
    email = unique_email("lookalike")
    scim_plain.post("Users", entra_user(user_name=email, external_id=str(uuid.uuid4())))
    browser = client_for("acme.localhost")
    assert sso_sign_in(browser, email).status_code == 403
    assert browser.get("/api/me").status_code == 401
    assert AuditEvent.objects.filter(tenant=acme, action="sign_in.refused", data__code="identity_mismatch").exists()


def test_suspending_ends_the_persons_sessions_at_once(scim_plain, as_member):
    email = unique_email("session")
    created = scim_plain.post("Users", entra_user(user_name=email)).json()
    with schema_context("acme"):
        Membership.objects.filter(user__username=email).update(state=Membership.State.ACTIVE,
                                                              access_level=AccessLevel.TECHNICIAN)
    user = membership_find(email).user
    bystander = member_create(access_level=AccessLevel.TECHNICIAN)
    browser, other = as_member(user), as_member(bystander)
    assert browser.get("/api/me").status_code == 200
    scim_plain.patch(f"Users/{created['id']}", patch_op({"op": "replace", "path": "active", "value": False}))
    assert browser.get("/api/me").status_code == 401
    assert other.get("/api/me").status_code == 200
    with schema_context("acme"):
        assert all(s.get_decoded().get("_auth_user_id") != str(user.pk) for s in Session.objects.all())


def test_a_portico_grant_does_not_revive_a_suspended_person(scim_plain, acme):
    from provisioning.errors import ProvisioningError
    from provisioning.services import member_add

    email = unique_email("grant")
    created = scim_plain.post("Users", entra_user(user_name=email)).json()
    scim_plain.patch(f"Users/{created['id']}", patch_op({"op": "Replace", "path": "active", "value": "False"}))
    import pytest

    with schema_context("acme"), pytest.raises(ProvisioningError):
        member_add(tenant=acme, email=email, access_level="technician", properties=[], actor="cli")
    assert membership_find(email).state == Membership.State.SUSPENDED


def test_group_mapped_to_support_grants_nothing(scim_plain, acme):
    from sso.models import IdentityProvider
    from tests.scim.conftest import entra_group

    email = unique_email("nosupport")
    user = scim_plain.post("Users", entra_user(user_name=email)).json()
    object_id = str(uuid.uuid4())
    IdentityProvider.objects.filter(tenant=acme).update(group_access_levels={object_id: "support"})
    group = scim_plain.post("Groups", entra_group(display_name="Sneaky", external_id=object_id)).json()
    scim_plain.patch(f"Groups/{group['id']}", patch_op({"op": "Add", "path": "members", "value": [{"value": user["id"]}]}))
    member = membership_find(email)
    assert member.state == Membership.State.WAITING_ROOM and member.access_level == ""
