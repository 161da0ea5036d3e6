"""Grants say what they grant (issue 9): removal clears access, an approved request grants exactly
its level and properties, and every path that grants access runs provisioning.services.access_grant_check."""
from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from provisioning.errors import NotAllowed
from provisioning.models import AccessLevel, Membership
from provisioning.services import member_add, member_remove, user_provision_from_assertion
from sso.errors import SsoConfigError
from sso.models import IdentityProvider
from sso.services import idp_options_update
from support.models import NewUserRequest
from support.services import new_user_request_approve
from tests.provisioning.factories import member_create, membership_find, new_user_request_create, property_ids


def _membership(user) -> Membership:
    with schema_context("acme"):
        return Membership.objects.select_related("user").get(user=user)


def test_removal_clears_the_access_level_and_the_properties(acme, acme_ca):
    pm = member_create(access_level=AccessLevel.PROPERTY_MANAGER, properties=("harbour-view", "elm-court"))
    with schema_context("acme"):
        member_remove(tenant=acme, membership=_membership(pm), actor=acme_ca)
    removed = membership_find(pm.username)
    assert removed.state == Membership.State.DISABLED
    assert removed.access_level == "" and removed.property_codes == set()


def test_a_removed_client_administrator_approved_as_a_property_manager_is_exactly_that(acme, acme_ca, support_user):
    former = member_create(access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    with schema_context("acme"):
        member_remove(tenant=acme, membership=_membership(former), actor=acme_ca)
    row = new_user_request_create(email=former.username, access_level=AccessLevel.PROPERTY_MANAGER,
                                  properties=("harbour-view",))
    new_user_request_approve(new_user_request=row, actor=support_user)
    back = membership_find(former.username)
    assert back.state == Membership.State.ACTIVE
    assert back.access_level == AccessLevel.PROPERTY_MANAGER and back.property_codes == {"harbour-view"}


def test_an_approved_request_grants_exactly_its_properties(acme, support_user):
    waiting = member_create(access_level="", properties=("elm-court",), state=Membership.State.WAITING_ROOM)
    row = new_user_request_create(email=waiting.username, access_level=AccessLevel.TECHNICIAN,
                                  properties=("harbour-view",))
    new_user_request_approve(new_user_request=row, actor=support_user)
    assert membership_find(waiting.username).property_codes == {"harbour-view"}


def test_a_request_is_not_approved_beyond_what_its_requester_holds_now(acme, support_user):
    row = new_user_request_create(access_level=AccessLevel.PROPERTY_MANAGER, properties=("harbour-view",),
                                  requested_by_email="demoted.pm@acme.example")
    with schema_context("acme"):
        Membership.objects.filter(user__username="demoted.pm@acme.example").update(
            access_level=AccessLevel.TECHNICIAN)
    with pytest.raises(NotAllowed, match="demoted.pm@acme.example asked for it"):
        new_user_request_approve(new_user_request=row, actor=support_user)
    row.refresh_from_db()
    assert row.status == NewUserRequest.Status.PENDING and membership_find(row.email) is None


def test_the_add_member_form_does_not_change_someone_who_holds_more_access(acme, acme_ca, as_member):
    support_member = member_create(access_level=AccessLevel.SUPPORT, properties=())
    response = as_member(acme_ca).post("/team/", {
        "email": support_member.username, "first_name": "S", "last_name": "Upport",
        "access_level": "technician", "properties": property_ids("acme", "harbour-view")})
    assert response.status_code == 400
    assert "more than you can give" in response.content.decode()
    assert membership_find(support_member.username).access_level == AccessLevel.SUPPORT


def test_support_is_granted_by_portico_only(acme, acme_ca):
    with schema_context("acme"), pytest.raises(NotAllowed, match="Portico's own"):
        member_add(tenant=acme, email="s@acme.example", access_level=AccessLevel.SUPPORT, actor=acme_ca)
    with schema_context("acme"):
        member_add(tenant=acme, email="s@acme.example", access_level=AccessLevel.SUPPORT, actor="cli")
    assert membership_find("s@acme.example").access_level == AccessLevel.SUPPORT


def test_the_groups_mapping_is_checked_in_the_service_not_only_the_form(acme, acme_ca, acme_pm, acme_idp):
    idp = IdentityProvider.objects.get(tenant=acme)
    with schema_context("acme"):
        with pytest.raises(SsoConfigError, match="Portico's own"):
            idp_options_update(idp=idp, actor=acme_ca, group_access_levels={"g-1": "support"})
        with pytest.raises(SsoConfigError, match="you hold Property Manager"):
            idp_options_update(idp=idp, actor=acme_pm, group_access_levels={"g-1": "client-administrator"})
        idp_options_update(idp=idp, actor=acme_ca, group_access_levels={"g-1": "client-administrator"})
    assert IdentityProvider.objects.get(pk=idp.pk).group_access_levels == {"g-1": "client-administrator"}


def test_a_groups_mapping_at_sign_in_never_grants_support(acme):
    with schema_context("acme"):
        user = user_provision_from_assertion(tenant=acme, email="mapped@acme.example", access_level="support")
    membership = membership_find(user.username)
    assert membership.state == Membership.State.WAITING_ROOM and membership.access_level == ""
