"""Reads of the support workflow: New User requests and set-up links."""
from __future__ import annotations

import hmac

from django.db.models import QuerySet
from django.utils import timezone

from provisioning.errors import SetupLinkExpired, SetupLinkRefused, SetupLinkUsed
from provisioning.models import Property
from support.models import NewUserRequest, SetupLink
from tenants.models import Tenant


def new_user_requests_of_tenant(*, tenant: Tenant) -> QuerySet[NewUserRequest]:
    """Only ever this tenant's requests: the queue itself is shared by all tenants."""
    return NewUserRequest.objects.filter(tenant=tenant).order_by("-created")


def new_user_requests_from_property(*, tenant: Tenant, prop: Property) -> QuerySet[NewUserRequest]:
    return new_user_requests_of_tenant(tenant=tenant).filter(properties__contains=[{"id": prop.pk}])


def new_user_request_latest_for(*, tenant: Tenant, email: str) -> NewUserRequest | None:
    return new_user_requests_of_tenant(tenant=tenant).filter(email__iexact=(email or "").strip()).first()


# --- Set-up links -------------------------------------------------------

_ASK_SUPPORT = "Ask Portico support to send you a new set-up link."


def setup_link_usable(*, tenant: Tenant, token: str, lock: bool = False) -> SetupLink:
    """This tenant's unused, unexpired set-up link for `token`, or SetupLinkRefused saying why.

    Looked up by the token's SHA-256, never by the token: how long the lookup takes depends on the
    hash, which tells a guesser nothing about a real token (the final compare_digest keeps it that
    way should the lookup ever change). Another tenant's link is as unknown as one that never
    existed. `lock` (inside a transaction) holds the row until that transaction ends, so a link is
    used once even when two requests race.
    """
    digest = SetupLink.token_digest(token)
    rows = SetupLink.objects.filter(tenant=tenant, token_sha256=digest).select_related("tenant")
    link = (rows.select_for_update(of=("self",)) if lock else rows).first()
    if link is None or not hmac.compare_digest(link.token_sha256, digest):
        raise SetupLinkRefused(f"This set-up link isn't valid for {tenant.name}. Check that you opened the whole "
                               f"link from the e-mail. {_ASK_SUPPORT}")
    if link.used_at is not None:
        raise SetupLinkUsed(f"This set-up link was used already, on {link.used_at:%-d %b %Y at %H:%M} UTC: each link "
                            "works once. If single sign-on is set up, sign in as usual; if not, ask Portico support "
                            "to send you a new set-up link.")
    if link.expires_at <= timezone.now():
        raise SetupLinkExpired(f"This set-up link expired on {link.expires_at:%-d %b %Y at %H:%M} UTC. {_ASK_SUPPORT}")
    return link


def new_user_requests_pending_count() -> int:
    """For the admin index: how many New User requests wait for support, across all tenants."""
    return NewUserRequest.objects.filter(status=NewUserRequest.Status.PENDING).count()
