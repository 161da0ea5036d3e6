"""Shapes shared by the tenants app."""
from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, Union, cast

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest

if TYPE_CHECKING:
    from tenants.models import Tenant

# Who did something: a signed-in user (tenant user or support staff) or a label such as "cli".
Actor = Union[User, str, None]


class TenantRequest(HttpRequest):
    """A request TenantMainMiddleware routed to a tenant's URLconf: `request.tenant` is set."""

    tenant: Tenant


class MemberRequest(TenantRequest):
    """A tenant request behind login_required: the user is a signed-in User, not AnonymousUser."""

    user: User


class TenantConnection(Protocol):
    """What django-tenants' PostgreSQL backend adds to a connection (the stubs only know
    BaseDatabaseWrapper, and django-tenants ships no types)."""

    schema_name: str
    tenant: Any  # a Tenant, or the FakeTenant schema_context() installs
    include_public_schema: bool
    search_path_set_schemas: list[str] | None

    def set_schema_to_public(self) -> None: ...

    def set_tenant(self, tenant: Tenant, include_public: bool = True) -> None: ...


def tenant_connection() -> TenantConnection:
    """django.db.connection, typed as the django-tenants backend it is (settings.DATABASES)."""
    return cast(TenantConnection, connection)


def signed_in_user(request: HttpRequest) -> User:
    """The User of a request the admin site or login_required let through (the stubs type
    request.user as User | AnonymousUser). Anything else is refused, not guessed."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user



class EmailDomainRefusal(StrEnum):
    """Why an email domain was refused or could not be verified: the reference every message ends with."""

    invalid = "DOMAIN-INVALID"
    webmail = "DOMAIN-WEBMAIL"  # a public mailbox provider's domain (tenants/public_email_domains.txt)
    portico = "DOMAIN-PORTICO"  # Portico's own base domain or one under it
    taken = "DOMAIN-TAKEN"  # verified by another tenant
    parent_taken = "DOMAIN-PARENT-TAKEN"  # under a domain another tenant holds verified
    not_yours = "DOMAIN-NOT-YOURS"  # not one of this tenant's domains (verify/remove)
    too_many_pending = "DOMAIN-TOO-MANY-PENDING"  # tenants.services.MAX_PENDING_EMAIL_DOMAINS
    # A DNS check that did not verify (the settings page's Verify now):
    dns_not_found = "DOMAIN-DNS-NOT-FOUND"
    dns_mismatch = "DOMAIN-DNS-MISMATCH"
    dns_error = "DOMAIN-DNS-ERROR"


class DomainCheck(StrEnum):
    """The outcome of one DNS check of a pending claim (EmailDomain.check_result)."""

    verified = "verified"
    already_verified = "already_verified"
    not_found = "not_found"  # no TXT record at the verification name
    mismatch = "mismatch"  # TXT records there, none with this claim's token
    dns_error = "dns_error"  # no answer from the resolvers (timeout, SERVFAIL): tried again later
    taken = "taken"  # the record is right but another tenant verified the domain (or a parent) first
    gone = "gone"  # the claim was removed since the check was queued
