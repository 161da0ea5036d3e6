"""Reads over a tenant's users, properties and access, and over the New User request queue.

Unless a function takes `tenant` and says otherwise, it reads the schema the connection is in
(a tenant host's request, or a `schema_context`).
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership, Property
from tenants.models import Tenant
from tenants.selectors import tenant_url

# Levels a tenant user may hand out. Support is Portico's own staff level: only the CLI grants it.
TENANT_GRANTABLE_LEVELS: tuple[AccessLevel, ...] = (
    AccessLevel.TECHNICIAN,
    AccessLevel.PROPERTY_MANAGER,
    AccessLevel.CLIENT_ADMINISTRATOR,
)


def membership_state(*, user: AbstractBaseUser) -> str:
    """`active`, `waiting_room` or `disabled` for a signed-in tenant user."""
    if not user.is_active:
        return Membership.State.DISABLED
    state = Membership.objects.filter(user=user).values_list("state", flat=True).first()
    return state or Membership.State.WAITING_ROOM


def membership_of(*, user: AbstractBaseUser) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(user=user).prefetch_related("properties").first()


def access_level_of(*, user: AbstractBaseUser) -> str:
    """The access level a user holds now: empty unless their membership is active."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return ""
    row = Membership.objects.filter(user=user, state=Membership.State.ACTIVE).values_list("access_level", flat=True)
    return row.first() or ""


def level_sees_all_properties(level: str | None) -> bool:
    """Client Administrators (and Support) act for the whole tenant, not property by property."""
    return AccessLevel.rank(level) >= AccessLevel.rank(AccessLevel.CLIENT_ADMINISTRATOR)


def properties_visible_to(*, user: AbstractBaseUser) -> QuerySet[Property]:
    level = access_level_of(user=user)
    if not level:
        return Property.objects.none()
    if level_sees_all_properties(level):
        return Property.objects.all()
    return Property.objects.filter(members__user=user).distinct()


def access_levels_grantable_by(*, user: AbstractBaseUser) -> list[AccessLevel]:
    """A user may grant access levels up to their own, and never Support."""
    rank = AccessLevel.rank(access_level_of(user=user))
    return [level for level in TENANT_GRANTABLE_LEVELS if AccessLevel.rank(level) <= rank]


def member_can_request_users(*, user: AbstractBaseUser) -> bool:
    """Property Managers and Client Administrators fill the New User form."""
    return AccessLevel.rank(access_level_of(user=user)) >= AccessLevel.rank(AccessLevel.PROPERTY_MANAGER)


def member_can_manage_team(*, user: AbstractBaseUser) -> bool:
    return AccessLevel.rank(access_level_of(user=user)) >= AccessLevel.rank(AccessLevel.CLIENT_ADMINISTRATOR)


def property_manageable_by(*, user: AbstractBaseUser, code: str) -> Property | None:
    """The property whose Manage page this user may open, or None."""
    if not member_can_request_users(user=user):
        return None
    return properties_visible_to(user=user).filter(code=code).first()


def property_members(*, prop: Property) -> QuerySet[Membership]:
    """Who can see a property: those given it, and the tenant-wide levels."""
    wide = [AccessLevel.CLIENT_ADMINISTRATOR, AccessLevel.SUPPORT]
    return (
        Membership.objects.filter(Q(properties=prop) | Q(access_level__in=wide), state=Membership.State.ACTIVE)
        .select_related("user")
        .distinct()
        .order_by("user__last_name", "user__first_name", "user__email")
    )


def team_members() -> QuerySet[Membership]:
    return Membership.objects.select_related("user").prefetch_related("properties").order_by(
        "state", "user__last_name", "user__first_name", "user__email"
    )


def waiting_room_count() -> int:
    return Membership.objects.filter(state=Membership.State.WAITING_ROOM, user__is_active=True).count()


def team_member_get(*, membership_id: int) -> Membership | None:
    return team_members().filter(pk=membership_id).first()


def tenant_members_overview(*, tenant: Tenant, limit: int = 200) -> dict:
    """For support staff on the public host: a tenant's users, counted by state, and the first `limit`
    of them with access level and properties (enters the tenant's schema)."""
    with schema_context(tenant.schema_name):
        counts = {state: 0 for state in Membership.State.values}
        for row in Membership.objects.values("state").annotate(n=Count("pk")):
            counts[row["state"]] = row["n"]
        members = [
            {
                "email": m.user.email, "name": m.user.get_full_name(), "state": m.get_state_display(),
                "access_level": m.get_access_level_display() or "—",
                "properties": ", ".join(p.name for p in m.properties.all()) or "—",
                "last_sso_at": m.last_sso_at,
            }
            for m in team_members()[:limit]
        ]
    return {"counts": counts, "total": sum(counts.values()), "members": members}


def client_admin_emails(*, tenant: Tenant) -> list[str]:
    """E-mail addresses of the tenant's active Client Administrators (enters the tenant's schema)."""
    with schema_context(tenant.schema_name):
        return list(
            Membership.objects.filter(
                state=Membership.State.ACTIVE, access_level=AccessLevel.CLIENT_ADMINISTRATOR, user__is_active=True
            )
            .exclude(user__email="")
            .order_by("user__email")
            .values_list("user__email", flat=True)
        )


def tenant_sign_on_url(*, tenant: Tenant) -> str:
    return tenant_url(tenant=tenant, path=settings.LOGIN_URL)
