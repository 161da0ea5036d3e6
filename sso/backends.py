"""The authentication backend for tenant users signing in through their IdP.

It accepts only an `SsoSignIn`, which sso.acs.acs_process builds after Portico's verifier and
policy passed: the identity comes from the element the verified signature covers, never from a
second parse. Password or other callers get nothing from it.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.models import User
from django.http import HttpRequest

from provisioning.services import user_provision_from_assertion


class SsoIdentityBackend(BaseBackend):
    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> User | None:
        from sso.acs import SsoSignIn  # sso.acs imports django.contrib.auth, which loads backends lazily

        sso_identity = credentials.get("sso_identity")
        if not isinstance(sso_identity, SsoSignIn):
            return None
        identity = sso_identity.identity
        user = user_provision_from_assertion(
            tenant=sso_identity.tenant, email=identity.email, first_name=identity.first_name,
            last_name=identity.last_name, idp_subject=sso_identity.subject, access_level=identity.access_level,
            idp_entity_id=sso_identity.issuer, idp_object_id=identity.object_id,
        )
        # A deactivated account stays out, as Django's ModelBackend keeps it out.
        return user if user.is_active else None

    def get_user(self, user_id: Any) -> User | None:
        user = User._default_manager.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None
