"""Onboarding a new tenant: the set-up link for its first Client Administrator.

A new tenant has no identity provider yet, so nobody can sign in to connect one, and tenant users
have no passwords. Support staff send the customer's administrator a one-time set-up link; opening
it makes that address an active Client Administrator and signs them in once, on the tenant's host,
so they can reach the SSO settings page. Only the token's hash is stored.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from provisioning.emails import email_queue
from provisioning.errors import NotAllowed, ProvisioningError
from provisioning.models import AccessLevel, Membership
from provisioning.selectors import setup_link_usable
from provisioning.services import email_normalize, email_validate_for_tenant, member_add
from sso.sp import sp_endpoints
from tenants.models import SetupLink, Tenant
from tenants.selectors import email_domains_of
from tenants.services import audit_record
from tenants.types import Actor

SETUP_PATH = "/setup/{token}/"


def _setup_email_validate(*, tenant: Tenant, email: str) -> str:
    """One of the tenant's email domains, unless it has none yet (a brand-new tenant may not)."""
    if email_domains_of(tenant=tenant):
        return email_validate_for_tenant(tenant=tenant, email=email)
    email = email_normalize(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ProvisioningError("Enter a valid e-mail address.", field="email") from exc
    return email


def setup_link_create(*, tenant: Tenant, email: str, actor: Actor) -> tuple[SetupLink, str]:
    """A one-time set-up link for `email` on the tenant's primary host; returns (row, raw URL).

    The raw URL is returned once, for the support person to see, and e-mailed to the person once
    this transaction commits. An earlier unused link for the same address stops working: the
    newest link is the one that counts.
    """
    if isinstance(actor, AbstractBaseUser) and not getattr(actor, "is_staff", False):
        raise NotAllowed("Only Portico support staff send set-up links.")
    if tenant.is_public:
        raise ProvisioningError("Set-up links are for customer tenants, not the central site.")
    if tenant.status != Tenant.Status.ACTIVE:
        raise ProvisioningError(f"{tenant.name} is suspended; reactivate it before sending a set-up link.")
    host = tenant.primary_host
    if not host:
        raise ProvisioningError(f"{tenant.name} has no host name yet; add one before sending a set-up link.")
    email = _setup_email_validate(tenant=tenant, email=email)
    token = secrets.token_urlsafe(32)
    url = sp_endpoints(host=host).base_url + SETUP_PATH.format(token=token)
    now = timezone.now()
    hours = settings.PORTICO_SETUP_LINK_HOURS
    with transaction.atomic():
        replaced = SetupLink.objects.filter(tenant=tenant, email__iexact=email, used_at__isnull=True,
                                            expires_at__gt=now).update(expires_at=now)
        link = SetupLink.objects.create(
            tenant=tenant, email=email, token_sha256=SetupLink.token_digest(token),
            created_by=actor if isinstance(actor, AbstractBaseUser) else None,
            expires_at=now + timedelta(hours=hours),
        )
        audit_record(actor=actor, action="setup_link.create", tenant=tenant, target=email,
                     data={"setup_link_id": link.pk, "expires_at": link.expires_at.isoformat(),
                           "earlier_links_revoked": replaced})
        email_queue(
            tenant=tenant, kind="setup_link", to=[email], template="setup_link",
            context={"email": email, "setup_url": url, "expires_at": link.expires_at, "hours": hours},
            dedupe_key=f"setup_link:{link.pk}",
        )
    return link, url


def setup_link_redeem(*, tenant: Tenant, token: str) -> AbstractBaseUser:
    """Use a set-up link: its address becomes an active Client Administrator of the tenant (every
    property), in the same transaction that marks the link used. Returns that tenant user, for
    the caller to sign in; raises SetupLinkRefused (unknown, another tenant's, expired, used)."""
    with transaction.atomic():
        link = setup_link_usable(tenant=tenant, token=token, lock=True)
        actor = f"setup-link:{link.email}"
        with schema_context(tenant.schema_name):
            held = Membership.objects.filter(user__username=link.email, state=Membership.State.ACTIVE).values_list(
                "access_level", flat=True).first()
            level = AccessLevel.CLIENT_ADMINISTRATOR
            if AccessLevel.rank(held) > AccessLevel.rank(level):
                level = AccessLevel(held)  # someone holding Portico's own Support level keeps it
            result = member_add(tenant=tenant, email=link.email, access_level=level, properties=(), actor=actor)
            user = result.membership.user
            user.refresh_from_db()  # member_add re-enables a disabled account in the database only
        link.used_at = timezone.now()
        link.save(update_fields=["used_at"])
        audit_record(actor=actor, action="setup_link.redeem", tenant=tenant, target=link.email,
                     data={"setup_link_id": link.pk, "user_created": result.user_created,
                           "changes": result.changes})
    return user
