"""What a verified SSO assertion does to the tenant's users (the service the SAML backend calls)."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership
from provisioning.services import member_add, user_provision_from_assertion
from tenants.models import AuditEvent
from tests.provisioning.factories import member_create


def _sign_in(acme, email: str, **kwargs):
    with schema_context("acme"):
        user = user_provision_from_assertion(tenant=acme, email=email, idp_subject="subject-1", **kwargs)
        return user, Membership.objects.get(user=user)


def test_a_pre_provisioned_member_matching_case_insensitively_and_trimmed_stays_active(acme):
    pre = member_create(email="pia@acme.example", access_level=AccessLevel.TECHNICIAN)
    user, membership = _sign_in(acme, "  PIA@Acme.Example ", first_name="Other", last_name="Name")
    assert user.pk == pre.pk
    assert membership.state == Membership.State.ACTIVE
    assert membership.access_level == AccessLevel.TECHNICIAN
    assert membership.idp_subject == "subject-1" and membership.last_sso_at is not None
    assert (user.first_name, user.last_name) == ("Pat", "Member")  # names someone typed are kept


def test_an_unknown_email_is_created_just_in_time_in_the_waiting_room_with_the_asserted_name(acme):
    user, membership = _sign_in(acme, "New.Person@acme.example", first_name="New", last_name="Person")
    assert user.username == user.email == "new.person@acme.example"
    assert (user.first_name, user.last_name) == ("New", "Person")
    assert not user.has_usable_password()
    assert membership.state == Membership.State.WAITING_ROOM
    assert membership.origin == Membership.Origin.JUST_IN_TIME
    assert membership.access_level == ""
    assert AuditEvent.objects.filter(action="user.jit_create", target="new.person@acme.example").count() == 1


def test_signing_in_again_while_waiting_never_creates_a_second_account(acme):
    first, _ = _sign_in(acme, "twice@acme.example")
    second, membership = _sign_in(acme, "TWICE@acme.example ")
    assert first.pk == second.pk
    assert membership.state == Membership.State.WAITING_ROOM
    with schema_context("acme"):
        assert get_user_model().objects.filter(username="twice@acme.example").count() == 1
    assert AuditEvent.objects.filter(action="user.jit_create", target="twice@acme.example").count() == 1


def test_a_disabled_member_stays_disabled(acme):
    member_create(email="gone@acme.example", state=Membership.State.DISABLED)
    _, membership = _sign_in(acme, "gone@acme.example", access_level="client-administrator")
    assert membership.state == Membership.State.DISABLED


def test_a_waiting_room_user_granted_access_signs_in_active_next_time(acme):
    _sign_in(acme, "later@acme.example")
    with schema_context("acme"):
        from provisioning.models import Property

        member_add(tenant=acme, email="later@acme.example", access_level="technician",
                   properties=list(Property.objects.filter(code="elm-court")), actor="cli")
    _, membership = _sign_in(acme, "later@acme.example")
    assert membership.state == Membership.State.ACTIVE


def test_an_access_level_from_the_idp_group_mapping_lets_a_new_user_in_directly(acme):
    _, membership = _sign_in(acme, "grouped@acme.example", access_level="property-manager")
    assert membership.state == Membership.State.ACTIVE
    assert membership.access_level == AccessLevel.PROPERTY_MANAGER
    assert AuditEvent.objects.filter(action="member.activate_from_idp_group", target="grouped@acme.example").exists()


def test_the_idp_group_mapping_never_changes_an_active_members_level_nor_grants_support(acme):
    member_create(email="boss@acme.example", access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    _, membership = _sign_in(acme, "boss@acme.example", access_level="technician")
    assert membership.access_level == AccessLevel.CLIENT_ADMINISTRATOR
    _, membership = _sign_in(acme, "sneaky@acme.example", access_level="support")
    assert membership.state == Membership.State.WAITING_ROOM
