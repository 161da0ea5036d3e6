"""Shapes shared by the tenants app."""
from __future__ import annotations

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
