"""Accounts bound to the IdP's immutable ID (provisioning.services.user_provision_from_assertion)."""
from __future__ import annotations

import uuid

import pytest
from django_tenants.utils import schema_context

from provisioning.errors import SignInRefusal, SignInRefused
from provisioning.models import AccessLevel, Membership
from provisioning.services import user_provision_from_assertion
from tests.provisioning.factories import member_create, membership_find, unique_email

ISSUER = "https://sts.windows.net/acme-directory/"


def _sign_in(acme, email: str, object_id: str, issuer: str = ISSUER):
    with schema_context("acme"):
        return user_provision_from_assertion(tenant=acme, email=email, idp_entity_id=issuer, idp_object_id=object_id)


def test_first_sign_in_binds_an_unbound_pre_provisioned_account(acme):
    user = member_create(access_level=AccessLevel.PROPERTY_MANAGER)
    object_id = str(uuid.uuid4())
    assert _sign_in(acme, user.username, object_id).pk == user.pk
    member = membership_find(user.username)
    assert (member.idp_entity_id, member.idp_object_id) == (ISSUER, object_id) and member.bound_at


def test_a_bound_account_is_matched_by_object_id_even_after_an_email_change(acme):
    user = member_create()
    object_id = str(uuid.uuid4())
    _sign_in(acme, user.username, object_id)
    assert _sign_in(acme, unique_email("renamed"), object_id).pk == user.pk


def test_same_email_with_another_object_id_is_refused_not_merged(acme):
    user = member_create(access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    _sign_in(acme, user.username, str(uuid.uuid4()))
    with pytest.raises(SignInRefused) as refused:
        _sign_in(acme, user.username, str(uuid.uuid4()))
    assert refused.value.code == SignInRefusal.IDENTITY_MISMATCH


def test_same_object_id_from_another_issuer_does_not_sign_in_to_the_account(acme):
    user = member_create()
    object_id = str(uuid.uuid4())
    _sign_in(acme, user.username, object_id)
    with pytest.raises(SignInRefused):
        _sign_in(acme, user.username, object_id, issuer="https://sts.windows.net/other-directory/")


def test_a_pending_binding_is_completed_by_the_first_sign_in(acme):
    user = member_create()
    object_id = str(uuid.uuid4())
    with schema_context("acme"):
        Membership.objects.filter(user=user).update(idp_object_id=object_id, idp_entity_id="")
    assert _sign_in(acme, unique_email("other"), object_id).pk == user.pk
    assert membership_find(user.username).idp_entity_id == ISSUER


@pytest.mark.parametrize("state", [Membership.State.SUSPENDED, Membership.State.DEPROVISIONED])
def test_directory_suspended_or_removed_person_is_refused_and_not_revived(acme, state):
    user = member_create(state=state)
    with pytest.raises(SignInRefused):
        _sign_in(acme, user.username, str(uuid.uuid4()))
    member = membership_find(user.username)
    assert member.state == state and not member.is_bound
