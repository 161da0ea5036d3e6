"""Reads over a tenant's users, properties and access, and over the New User request queue.

Unless a function takes `tenant` and says otherwise, it reads the schema the connection is in
(a tenant host's request, or a `schema_context`).
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Count, Q, QuerySet
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership, Property
from provisioning.types import WaitingMember
from support.models import NewUserRequest
from tenants.audit import audit_action_phrase
from tenants.models import AuditEvent, Tenant
from tenants.selectors import tenant_current, tenant_url

# Levels a tenant user may hand out. Support is Portico's own staff level: only the CLI grants it.
TENANT_GRANTABLE_LEVELS: tuple[AccessLevel, ...] = (
    AccessLevel.TECHNICIAN,
    AccessLevel.PROPERTY_MANAGER,
    AccessLevel.CLIENT_ADMINISTRATOR,
)


def membership_state(*, user: User) -> str:
    """`active`, `waiting_room` or `disabled` for a signed-in tenant user."""
    if not user.is_active:
        return Membership.State.DISABLED
    state = Membership.objects.filter(user=user).values_list("state", flat=True).first()
    return state or Membership.State.WAITING_ROOM


def membership_of(*, user: User) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(user=user).prefetch_related("properties").first()


def access_level_of(*, user: User) -> str:
    """The access level a user holds now: empty unless their membership is active."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return ""
    row = Membership.objects.filter(user=user, state=Membership.State.ACTIVE).values_list("access_level", flat=True)
    return row.first() or ""


def level_sees_all_properties(level: str | None) -> bool:
    """Client Administrators (and Support) act for the whole tenant, not property by property."""
    return AccessLevel.rank(level) >= AccessLevel.rank(AccessLevel.CLIENT_ADMINISTRATOR)


def properties_visible_to(*, user: User) -> QuerySet[Property]:
    level = access_level_of(user=user)
    if not level:
        return Property.objects.none()
    if level_sees_all_properties(level):
        return Property.objects.all()
    return Property.objects.filter(members__user=user).distinct()


def access_levels_grantable_by(*, user: User) -> list[AccessLevel]:
    """A user may grant access levels up to their own, and never Support."""
    rank = AccessLevel.rank(access_level_of(user=user))
    return [level for level in TENANT_GRANTABLE_LEVELS if AccessLevel.rank(level) <= rank]


def member_can_request_users(*, user: User) -> bool:
    """Property Managers and Client Administrators fill the New User form."""
    return AccessLevel.rank(access_level_of(user=user)) >= AccessLevel.rank(AccessLevel.PROPERTY_MANAGER)


def member_can_manage_team(*, user: User) -> bool:
    return AccessLevel.rank(access_level_of(user=user)) >= AccessLevel.rank(AccessLevel.CLIENT_ADMINISTRATOR)


def property_manageable_by(*, user: User, code: str) -> Property | None:
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


def team_members_filtered(*, search: str = "", access_level: str = "", state: str = "") -> QuerySet[Membership]:
    """Team Members' list: by name or e-mail, access level and state (Waiting Room first, removed last)."""
    rows = team_members()
    search = (search or "").strip()
    if search:
        rows = rows.filter(Q(user__email__icontains=search) | Q(user__first_name__icontains=search)
                           | Q(user__last_name__icontains=search))
    if access_level in AccessLevel.values:
        rows = rows.filter(access_level=access_level, state=Membership.State.ACTIVE)
    if state in Membership.State.values:
        rows = rows.filter(state=state)
    return rows.order_by(
        models.Case(models.When(state=Membership.State.WAITING_ROOM, then=0),
                    models.When(state=Membership.State.ACTIVE, then=1), default=2),
        "user__last_name", "user__first_name", "user__email")


def member_access_history(*, tenant: Tenant, membership: Membership) -> list[dict]:
    """What happened to one person's access, newest first, in words (from the audit log)."""
    names = property_names()
    events = AuditEvent.objects.filter(tenant=tenant, target__iexact=membership.user.username).order_by("-created")[:100]
    return [{"when": e.created, "what": audit_action_phrase(e.action), "who": e.actor.split(":", 1)[-1],
             "detail": audit_data_words(e.data, property_names=names)} for e in events]


def waiting_room_count() -> int:
    return Membership.objects.filter(state=Membership.State.WAITING_ROOM, user__is_active=True).count()


def members_with_idp_subject(*, idp_subject: str) -> list[tuple[int, str]]:
    """(user id, email) of everyone in the current (tenant) schema the IdP last signed in under this
    NameID: whom an IdP's single-logout request names."""
    if not idp_subject:
        return []
    return list(Membership.objects.filter(idp_subject=idp_subject).values_list("user_id", "user__email"))


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
                "last_sso_at": m.last_sso_at, "id": m.pk, "bound_object_id": m.idp_object_id,
                "bound_issuer": m.idp_entity_id,
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


# --- The Waiting Room, seen by those who can act on it ----------------------------------------------

# How often one person in the Waiting Room may e-mail their property managers ("Ask for access").
ACCESS_ASK_INTERVAL = timedelta(hours=1)


def waiting_room_members(*, viewer: User) -> list[WaitingMember]:
    """The people waiting for access, oldest first, for a Property Manager or Client Administrator
    (Waiting Room people hold no property yet, so every property manager of the tenant sees them all).

    Each comes with the New User request support is deciding for them, or None.
    """
    if not member_can_request_users(user=viewer):
        return []
    rows = list(
        Membership.objects.filter(state=Membership.State.WAITING_ROOM, user__is_active=True)
        .select_related("user")
        .order_by("created", "pk")
    )
    tenant = tenant_current()
    pending = {}
    if tenant is not None and rows:
        emails = [m.user.email.lower() for m in rows]
        for row in NewUserRequest.objects.filter(tenant=tenant, status=NewUserRequest.Status.PENDING):
            if row.email.lower() in emails:
                pending[row.email.lower()] = row
    return [WaitingMember(membership=m, pending_request=pending.get(m.user.email.lower())) for m in rows]


def waiting_member_get(*, membership_id: int) -> Membership | None:
    """One person in the Waiting Room (for pre-filling the New User form), or None."""
    return (
        Membership.objects.filter(pk=membership_id, state=Membership.State.WAITING_ROOM, user__is_active=True)
        .select_related("user")
        .first()
    )


def access_ask_last(*, tenant: Tenant, email: str) -> AuditEvent | None:
    """When this person last pressed "Ask for access" (the audit record), or None."""
    return (
        AuditEvent.objects.filter(tenant=tenant, action="waiting_room.access_ask", target=(email or "").lower())
        .order_by("-created")
        .first()
    )


def property_manager_emails(*, tenant: Tenant) -> list[str]:
    """Who hears a Waiting Room visitor's "Ask for access": the tenant's active Property Managers,
    or its Client Administrators where it has none (someone must be able to act)."""
    with schema_context(tenant.schema_name):
        for level in (AccessLevel.PROPERTY_MANAGER, AccessLevel.CLIENT_ADMINISTRATOR):
            emails = list(
                Membership.objects.filter(state=Membership.State.ACTIVE, access_level=level, user__is_active=True)
                .exclude(user__email="")
                .order_by("user__email")
                .values_list("user__email", flat=True)
            )
            if emails:
                return emails
    return []



# --- Audit records in words (the tenant admins' audit log, Django admin) ----------------------------

_FIELD_WORDS = {"state": "State", "access_level": "Access level", "properties": "Properties",
                "reason": "Reason", "notified": "E-mailed", "user_active": "Account enabled",
                "email_domains": "Email domains", "hosts": "Host names", "identifier": "Identifier",
                "login_url": "Login URL", "button_label": "Button label",
                "certificate_thumbprints": "Certificate thumbprints (SHA-1)"}
_PAIRED = ("state", "access_level", "properties", "user_active", "identifier", "login_url", "button_label",
           "certificate_thumbprints")


def property_names() -> dict[str, str]:
    """Property code → name in the schema the connection is in."""
    return dict(Property.objects.values_list("code", "name"))


def _value_words(key: str, value: object, names: dict[str, str]) -> str:
    if value is None:
        return "none"
    if isinstance(value, list) and len(value) == 2 and key in _PAIRED and not (
            key == "properties" and all(isinstance(v, str) for v in value)):
        return f"{_value_words(key, value[0], names)} → {_value_words(key, value[1], names)}"
    if isinstance(value, list):
        return ", ".join(_value_words(key, v, names) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "access_level":
        level = AccessLevel.parse(str(value or ""))
        return level.label if level else "none"
    if key == "state":
        return dict(Membership.State.choices).get(str(value), str(value))
    if key == "properties":
        return names.get(str(value), str(value))
    return str(value)


def change_words(changes: dict, *, property_names: dict[str, str]) -> list[str]:
    """`{"properties": [[], ["harbour-view"]]}` → `["Properties: none → Harbour View"]`."""
    return [f"{_FIELD_WORDS.get(key, key.replace('_', ' ').capitalize())}: {_value_words(key, value, property_names)}"
            for key, value in changes.items()]


def audit_data_words(data: dict, *, property_names: dict[str, str]) -> str:
    """An audit record's details for people: "Access level: Technician → Property Manager"."""
    shown = {key: value for key, value in (data or {}).items()
             if key not in ("changes", "request_id", "user_created", "properties_missing")
             and value not in ("", None, [], {})}
    return "; ".join(change_words((data or {}).get("changes") or {}, property_names=property_names)
                     + change_words(shown, property_names=property_names))


def waiting_room_member_exists(*, tenant: Tenant, email: str) -> bool:
    """Whether this person signed in already and waits in the tenant's Waiting Room (enters its schema)."""
    with schema_context(tenant.schema_name):
        return Membership.objects.filter(state=Membership.State.WAITING_ROOM, user__is_active=True,
                                         user__username=(email or "").strip().lower()).exists()


def membership_for_support(*, tenant: Tenant, membership_id: int) -> Membership | None:
    """One member of a tenant, with their user, for support staff on the public host (enters the schema)."""
    with schema_context(tenant.schema_name):
        return Membership.objects.select_related("user").filter(pk=membership_id).first()
