"""Provisioning operations: properties, users, access, and the New User request workflow.

Tenant-schema work (users, memberships, properties) runs in the schema the connection is in,
except where a function takes a public-schema row (a New User request) and enters its tenant's
schema itself. Every change of someone's access writes an audit record in the same transaction;
e-mails are queued for after the commit (outbox.services).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from django_tenants.utils import schema_context

from outbox.services import email_queue
from provisioning.errors import NotAllowed, ProvisioningError, SignInRefusal, SignInRefused, problems_raise
from provisioning.models import AccessLevel, Membership, Property
from provisioning.selectors import (
    access_level_of,
    level_sees_all_properties,
    member_can_manage_team,
    properties_visible_to,
    tenant_sign_on_url,
)
from provisioning.types import MemberChange
from tenants.addresses import InvalidAddress, ascii_lower, email_canonical
from tenants.models import Tenant
from tenants.selectors import email_domains_of, tenant_current
from tenants.services import audit_record
from tenants.types import Actor

T = TypeVar("T")


def problems_collect(problems: list[ProvisioningError], check: Callable[[], T]) -> T | None:
    """Run one check; a problem is kept for reporting with the others instead of stopping here."""
    try:
        return check()
    except ProvisioningError as exc:
        problems.extend(exc.problems)
        return None


# --- Properties -------------------------------------------------------------------------------

def property_create(*, name: str, code: str | None = None, actor: Actor = "cli") -> Property:
    """Create a property (site) in the current tenant's schema."""
    name = (name or "").strip()
    if not name:
        raise ProvisioningError("A property needs a name.")
    code = slugify(code or name)[:64]
    if not code:
        raise ProvisioningError(f"Cannot derive a property code from {name!r}; pass --code.")
    if Property.objects.filter(code=code).exists():
        raise ProvisioningError(f"A property with code {code!r} already exists.")
    with transaction.atomic():
        prop = Property.objects.create(name=name, code=code)
        audit_record(actor=actor, action="property.create", tenant=tenant_current(), target=code, data={"name": name})
    return prop


# --- E-mail addresses -------------------------------------------------------------------------

def email_normalize(email: str) -> str:
    """Tenant usernames are the trimmed e-mail address with A-Z lower-cased (no Unicode folding)."""
    return ascii_lower((email or "").strip())


def email_validate_for_tenant(*, tenant: Tenant, email: str) -> str:
    """The canonical address (tenants.addresses) whose domain is one of the tenant's email domains."""
    try:
        validate_email(email)
        email = email_canonical(email)
    except ValidationError as exc:
        raise ProvisioningError("Enter a valid e-mail address.", field="email") from exc
    except InvalidAddress as exc:
        raise ProvisioningError(str(exc), field="email") from exc
    domains = [d.lower() for d in email_domains_of(tenant=tenant)]
    if email.rsplit("@", 1)[1] not in domains:
        allowed = ", ".join(f"@{d}" for d in domains) or "none configured yet"
        raise ProvisioningError(
            f"{email} is not an address of {tenant.name}. Use an address ending in {allowed}.", field="email"
        )
    return email


def _user_for_email(email: str, *, lock: bool = False) -> User | None:
    # Exact: addresses are stored canonical (tenants.addresses); iexact would fold look-alikes (UPPER("ı") = "I").
    rows = get_user_model().objects.filter(Q(username=email) | Q(email=email)).order_by("pk")
    return (rows.select_for_update() if lock else rows).first()


def _user_create(*, email: str, first_name: str, last_name: str) -> User:
    # Tenant users only ever sign in through their organisation's IdP.
    user = get_user_model()(username=email, email=email, first_name=(first_name or "").strip()[:150],
                last_name=(last_name or "").strip()[:150])
    user.set_unusable_password()
    user.save()
    return user


def _user_names_fill(user: User, *, first_name: str, last_name: str) -> None:
    """Fill in names the user does not have yet; names someone typed in are not overwritten."""
    updates = {}
    if first_name.strip() and not user.first_name:
        updates["first_name"] = first_name.strip()[:150]
    if last_name.strip() and not user.last_name:
        updates["last_name"] = last_name.strip()[:150]
    if updates:
        get_user_model().objects.filter(pk=user.pk).update(**updates)
        for key, value in updates.items():
            setattr(user, key, value)


def _member_lock_or_create(
    *, email: str, first_name: str, last_name: str, origin: str
) -> tuple[User, bool, Membership, bool]:
    """The user with this e-mail and their membership, both locked; either is created if missing.

    A new user gets these names and an existing one only the names they lack; a new membership
    starts in the Waiting Room with `origin`. Returns (user, user_created, membership, membership_created).
    """
    user = _user_for_email(email, lock=True)
    user_created = user is None
    if user is None:
        user = _user_create(email=email, first_name=first_name, last_name=last_name)
    else:
        _user_names_fill(user, first_name=first_name, last_name=last_name)
    membership = Membership.objects.select_for_update().filter(user=user).first()
    membership_created = membership is None
    if membership is None:
        membership = Membership.objects.create(user=user, state=Membership.State.WAITING_ROOM, origin=origin)
    return user, user_created, membership, membership_created


# --- Sign-in ----------------------------------------------------------------------------------

def user_provision_from_assertion(
    *,
    tenant: Tenant,
    email: str,
    first_name: str = "",
    last_name: str = "",
    idp_subject: str = "",
    access_level: str | None = None,
    idp_entity_id: str = "",
    idp_object_id: str = "",
) -> User:
    """The tenant user a verified SSO assertion stands for (called by the SAML backend).

    Matching (see provisioning.models for the binding):
    - An assertion with an object id (`idp_object_id`, under issuer `idp_entity_id`) signs in to
      the membership bound to that pair, or to one bound to that object id with the issuer still
      pending (which it then completes), whatever e-mail it carries.
    - Otherwise the e-mail is matched, and only an unbound account is taken: the first sign-in
      with an object id binds it. An account bound to another object id (or an assertion without
      one for a bound account) is refused with SignInRefused(identity_mismatch), and recorded.
    - A member suspended or removed by the directory (SCIM) is refused even with a valid assertion.

    Standing: an active (pre-provisioned or approved) member is signed straight in, a Waiting Room
    member waits on, a disabled one stays disabled. Missing names are filled from the assertion.
    An unknown person gets a user created just in time, in the Waiting Room.
    `access_level` is what the tenant's IdP groups → access level mapping gave, if anything.
    That mapping is set by the tenant's own Client Administrator, so it counts as a grant: it
    lets a new or Waiting Room user in directly, at that level and with no properties yet (a
    Client Administrator sees them all). It never changes an active member's level (access
    changed in Portico is not undone at the next sign-in), never re-enables a disabled member,
    and never grants Support.
    """
    email = email_normalize(email)
    if "@" not in email:
        raise ProvisioningError("The identity provider sent no e-mail address for this user.")
    granted = AccessLevel.parse(access_level) if access_level else None
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _provision_locked(tenant=tenant, email=email, first_name=first_name or "",
                                         last_name=last_name or "", idp_subject=idp_subject or "", granted=granted,
                                         issuer=(idp_entity_id or "").strip()[:1024],
                                         object_id=(idp_object_id or "").strip()[:256])
        except SignInRefused as exc:
            # Recorded outside the refused transaction, so the record stays.
            audit_record(actor=f"sso:{email}", action="sign_in.refused", tenant=tenant, target=exc.email or email,
                         data={"code": str(exc.code), "issuer": idp_entity_id, "object_id": idp_object_id})
            raise
        except IntegrityError:
            # Two first sign-ins of the same person at once: the other one created the user.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def member_match_for_sign_in(
    *, email: str, idp_entity_id: str, idp_object_id: str, lock: bool = False
) -> Membership | None:
    """The membership a verified assertion signs in to, or None for a person not known yet.

    Raises SignInRefused for a binding conflict or a member the directory suspended or removed.
    `email` must be normalised (email_normalize); call inside a transaction when `lock`.
    """
    rows = Membership.objects.select_related("user")
    if lock:
        rows = rows.select_for_update(of=("self",))
    membership = None
    if idp_object_id:
        # Bound under this issuer first, then bound with the issuer pending (SCIM before any IdP).
        membership = (rows.filter(idp_object_id=idp_object_id, idp_entity_id__in=[idp_entity_id, ""])
                      .order_by("-idp_entity_id").first())
    if membership is None:
        user = _user_for_email(email, lock=lock)
        membership = rows.filter(user=user).first() if user is not None else None
        if membership is not None and membership.is_bound:
            raise SignInRefused(SignInRefusal.IDENTITY_MISMATCH, email=membership.user.username)
    if membership is not None and membership.state == Membership.State.SUSPENDED:
        raise SignInRefused(SignInRefusal.SUSPENDED, email=membership.user.username)
    if membership is not None and membership.state == Membership.State.DEPROVISIONED:
        raise SignInRefused(SignInRefusal.DEPROVISIONED, email=membership.user.username)
    return membership


def _provision_locked(
    *, tenant: Tenant, email: str, first_name: str, last_name: str, idp_subject: str, granted: AccessLevel | None,
    issuer: str, object_id: str,
) -> User:
    actor = f"sso:{email}"
    matched = member_match_for_sign_in(email=email, idp_entity_id=issuer, idp_object_id=object_id, lock=True)
    if matched is not None:
        membership, user, user_created, membership_created = matched, matched.user, False, False
        _user_names_fill(user, first_name=first_name, last_name=last_name)
    else:
        user, user_created, membership, membership_created = _member_lock_or_create(
            email=email, first_name=first_name, last_name=last_name, origin=Membership.Origin.JUST_IN_TIME
        )
    if membership_created:
        audit_record(actor=actor, action="user.jit_create", tenant=tenant, target=email,
                     data={"state": membership.state, "user_created": user_created})
    if object_id and (not membership.is_bound or not membership.idp_entity_id):
        audit_record(actor=actor, action="member.bind", tenant=tenant, target=user.username,
                     data={"issuer": issuer, "object_id": object_id, "pending_before": membership.is_bound})
        membership.idp_object_id, membership.idp_entity_id = object_id, issuer
        membership.bound_at = timezone.now()
    if granted is not None and not mapping_may_grant(actor=actor, access_level=granted, membership=membership):
        granted = None
    if membership.state == Membership.State.WAITING_ROOM and granted is not None and user.is_active:
        membership.state = Membership.State.ACTIVE
        membership.access_level = granted
        audit_record(actor=actor, action="member.activate_from_idp_group", tenant=tenant, target=email,
                     data={"access_level": granted.value})
    membership.idp_subject = idp_subject[:256]
    membership.last_sso_at = timezone.now()
    membership.save()
    return user


# --- Granting access ----------------------------------------------------------------------------

def mapping_may_grant(*, actor: Actor, access_level: AccessLevel, membership: Membership | None) -> bool:
    """A groups → access level mapping (the IdP's group claim at sign-in, a directory group in
    SCIM) grants only within access_grant_check; beyond it, it grants nothing and the sign-in or
    sync goes on without it."""
    try:
        access_grant_check(actor=actor, access_level=access_level, membership=membership, mapping=True)
    except NotAllowed:
        return False
    return True


# Actors the tenant controls without being a signed-in member: its IdP (the groups → access level
# mapping applied at sign-in, "sso:…") and its directory (SCIM, "scim:…"). Both act on a mapping a
# Client Administrator wrote, so they grant at most what a Client Administrator may.
_TENANT_CONTROLLED_ACTORS = ("sso:", "scim:")


def _grantor_rank(actor: Actor) -> int | None:
    """The highest access rank `actor` may grant; None for Portico itself (the CLI, support staff,
    a set-up link support staff sent), which has no tenant level to stay below."""
    if isinstance(actor, User):
        if getattr(actor, "is_staff", False):
            return None  # Portico support staff (public-schema accounts; tenant users are never staff)
        return AccessLevel.rank(access_level_of(user=actor))
    if str(actor or "").startswith(_TENANT_CONTROLLED_ACTORS):
        return AccessLevel.rank(AccessLevel.CLIENT_ADMINISTRATOR)
    return None


def access_grant_check(
    *, actor: Actor, access_level: AccessLevel, properties: Sequence[Property] = (),
    membership: Membership | None = None, mapping: bool = False,
) -> None:
    """The rules every path that grants access runs: adding a member, changing one, approving a
    New User request (as its requester), the IdP's groups → access level mapping (when it is
    written and when it is applied at sign-in) and directory sync. Raises NotAllowed.

    - Support is Portico's own: only Portico (the CLI, support staff, a set-up link) grants it,
      and only to a person by name, never through a mapping.
    - Nobody grants above their own level: a tenant member grants levels up to the one they hold
      and properties they see; the tenant's IdP and directory at most Client Administrator.
    - Nobody changes the access of someone who holds more than they may grant (`membership`, the
      person's current standing, when they have one).
    """
    rank = _grantor_rank(actor)
    if access_level == AccessLevel.SUPPORT and (mapping or rank is not None):
        raise NotAllowed("Support access is Portico's own: only Portico support staff give it.",
                         field="access_level")
    if rank is None:
        return
    if AccessLevel.rank(access_level) > rank:
        own = AccessLevel(access_level_of(user=actor)).label if isinstance(actor, User) and rank else "no"
        if not isinstance(actor, User):
            own = "Client Administrator"
        raise NotAllowed(f"You can't grant {access_level.label} access: you hold {own} access.", field="access_level")
    if membership is not None and membership.pk and AccessLevel.rank(membership.access_level) > rank:
        raise NotAllowed(f"{membership.user.username} holds {membership.get_access_level_display()} access, more "
                         "than you can give: their access can't be changed here.", field="email")
    if isinstance(actor, User) and properties:
        visible = set(properties_visible_to(user=actor).values_list("pk", flat=True))
        outside = [p.name for p in properties if p.pk not in visible]
        if outside:
            raise NotAllowed(f"You can't grant access to {', '.join(outside)}.", field="properties")


def access_level_require(*, access_level: AccessLevel | str | None) -> AccessLevel:
    """The AccessLevel named by a value or label, or a ProvisioningError on access_level."""
    level = AccessLevel.parse(access_level) if isinstance(access_level, str) else access_level
    if level is None:
        choices = ", ".join(choice.value for choice in AccessLevel)
        raise ProvisioningError(f"Unknown access level {access_level!r}. Choose one of: {choices}.",
                                field="access_level")
    return level


def _properties_require(level: AccessLevel, properties: Sequence[Property]) -> None:
    if not properties and not level_sees_all_properties(level):
        raise ProvisioningError(f"Choose at least one property for {level.label} access.", field="properties")


def membership_apply(
    *, email: str, first_name: str, last_name: str, access_level: AccessLevel, properties: Sequence[Property],
    origin: str, grantor: Actor,
) -> MemberChange:
    """Create or update the user and make their membership active with exactly this access (locked).

    `grantor` is whoever's rights the grant is within (access_grant_check, run here on the locked
    membership, so no path can skip it): the acting member, or a New User request's requester."""
    user, user_created, membership, membership_created = _member_lock_or_create(
        email=email, first_name=first_name, last_name=last_name, origin=origin
    )
    membership.user = user  # callers read it after leaving the tenant's schema
    if membership.state in (Membership.State.SUSPENDED, Membership.State.DEPROVISIONED):
        # The directory (SCIM) owns this person's standing; a Portico grant would be silently undone.
        raise ProvisioningError(f"{email} is {membership.get_state_display().lower()}: enable them in your "
                                "directory (Entra) first.", field="email")
    access_grant_check(actor=grantor, access_level=access_level, properties=properties,
                       membership=None if membership_created else membership)
    changes: dict[str, list] = {}
    level = access_level
    before_props = sorted(membership.properties.values_list("code", flat=True))
    wanted = {p.pk: p for p in properties}
    after_props = sorted(p.code for p in wanted.values())
    if membership.state != Membership.State.ACTIVE:
        # origin keeps saying how the account came to be (e.g. just in time); the audit says who let them in
        changes["state"] = [membership.state, Membership.State.ACTIVE.value]
        membership.state = Membership.State.ACTIVE
    if membership.access_level != level:
        changes["access_level"] = [membership.access_level, level.value]
        membership.access_level = level
    if before_props != after_props:
        changes["properties"] = [before_props, after_props]
        membership.properties.set(list(wanted.values()))
    if not user.is_active:
        changes["user_active"] = [False, True]
        get_user_model().objects.filter(pk=user.pk).update(is_active=True)
    if changes or membership_created:
        membership.save()
    return MemberChange(membership=membership, user_created=user_created, changes=changes)


def member_add_check(
    *, tenant: Tenant, email: str | None, access_level: AccessLevel | str | None,
    properties: Sequence[Property] | None, actor: Actor,
) -> tuple[str | None, AccessLevel | None, list[Property]]:
    """Every problem with adding a team member at once (None: the form reported that value already)."""
    if isinstance(actor, User) and not member_can_manage_team(user=actor):
        raise NotAllowed("Only Client Administrators can add team members.")
    problems: list[ProvisioningError] = []
    level = (problems_collect(problems, lambda: access_level_require(access_level=access_level))
             if access_level is not None else None)
    checked = None
    if email is not None:
        checked = problems_collect(problems, lambda: _member_email_check(tenant=tenant, email=email, actor=actor))
    props = list(properties) if properties is not None else None
    if level is not None and props is not None:
        before = len(problems)
        problems_collect(problems, lambda: _properties_require(level, props))
        if len(problems) == before:
            problems_collect(problems, lambda: access_grant_check(actor=actor, access_level=level, properties=props))
    problems_raise(problems)
    return checked, level, props or []


def _member_email_check(*, tenant: Tenant, email: str, actor: Actor) -> str:
    if isinstance(actor, User):
        return email_validate_for_tenant(tenant=tenant, email=email)
    email = email_normalize(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ProvisioningError(f"{email!r} is not a valid e-mail address.", field="email") from exc
    return email


def member_add(
    *,
    tenant: Tenant,
    email: str,
    access_level: AccessLevel | str,
    properties: Sequence[Property] = (),
    first_name: str = "",
    last_name: str = "",
    actor: Actor,
    notify: bool = False,
) -> MemberChange:
    """Pre-provision someone: they get this access at their next SSO, without the Waiting Room.

    Idempotent: adding the same person with the same access again changes nothing. Someone in the
    Waiting Room is let in; someone disabled is given access again. A tenant user acting must be a
    Client Administrator and may grant only what they hold (Team Members); the CLI may grant any
    level. With `notify`, the person gets a "you can now sign in" e-mail.
    """
    checked, level, properties = member_add_check(tenant=tenant, email=email, access_level=access_level,
                                                  properties=properties, actor=actor)
    assert checked is not None and level is not None  # both were given, so both were checked
    email = checked
    with transaction.atomic():
        result = membership_apply(
            email=email, first_name=first_name, last_name=last_name, access_level=level, properties=properties,
            origin=Membership.Origin.PRE_PROVISIONED, grantor=actor,
        )
        if result.changed:
            audit_record(actor=actor, action="member.add", tenant=tenant, target=email,
                         data={"user_created": result.user_created, "changes": result.changes})
            if notify:
                access_granted_email_queue(tenant=tenant, membership=result.membership, key=None)
    return result


def member_access_change(
    *, tenant: Tenant, membership: Membership, access_level: AccessLevel | str, properties: Sequence[Property],
    actor: Actor,
) -> MemberChange:
    """Change a member's access level and properties (Team Members); a Waiting Room member is let in."""
    level = access_level_require(access_level=access_level)
    if isinstance(actor, User):
        if not member_can_manage_team(user=actor):
            raise NotAllowed("Only Client Administrators can change team members' access.")
        if membership.user_id == actor.pk and AccessLevel.rank(level) < AccessLevel.rank(membership.access_level):
            raise NotAllowed("You can't lower your own access level; ask another Client Administrator.",
                             field="access_level")
        if AccessLevel.rank(membership.access_level) > AccessLevel.rank(access_level_of(user=actor)):
            raise NotAllowed("You can't change the access of someone who holds more access than you.")
    properties = list(properties)
    _properties_require(level, properties)
    access_grant_check(actor=actor, access_level=level, properties=properties)
    user = membership.user
    with transaction.atomic():
        result = membership_apply(
            email=user.username, first_name="", last_name="", access_level=level, properties=properties,
            origin=Membership.Origin.PRE_PROVISIONED, grantor=actor,
        )
        if result.changed:
            audit_record(actor=actor, action="member.access_change", tenant=tenant, target=user.username,
                         data={"changes": result.changes})
            if "state" in result.changes:  # let in from the Waiting Room, or given access again
                access_granted_email_queue(tenant=tenant, membership=result.membership, key=None)
            else:
                _email_access_changed(tenant=tenant, membership=result.membership, changes=result.changes)
    return result


def _email_access_changed(*, tenant: Tenant, membership: Membership, changes: dict) -> None:
    """Tell someone their access level or properties changed, in words (inside the tenant's schema)."""
    from provisioning.selectors import change_words, property_names

    user = membership.user
    level = AccessLevel(membership.access_level)
    email_queue(
        tenant=tenant, kind="member.access_changed", to=[user.email or user.username], template="access_changed",
        context={"first_name": user.first_name, "access_level_label": level.label,
                 "changes": change_words(changes, property_names=property_names()),
                 "sign_on_url": tenant_sign_on_url(tenant=tenant)},
    )


def member_invite_resend(*, tenant: Tenant, membership: Membership, actor: Actor) -> None:
    """E-mail an active member who has not signed in yet their "you can now sign in" again."""
    if isinstance(actor, User) and not member_can_manage_team(user=actor):
        raise NotAllowed("Only Client Administrators can resend invitations.")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if locked.state != Membership.State.ACTIVE or not locked.user.is_active:
            raise ProvisioningError(f"{locked.user.email} has no access to be invited to; give them access first.")
        audit_record(actor=actor, action="member.invite_resend", tenant=tenant, target=locked.user.username)
        access_granted_email_queue(tenant=tenant, membership=locked, key=None)


def member_remove(*, tenant: Tenant, membership: Membership, actor: Actor) -> Membership:
    """Take someone's access away: they are signed out of everything at their next request and
    SSO no longer lets them in. Their record stays, so it can be given back."""
    if isinstance(actor, User):
        if not member_can_manage_team(user=actor):
            raise NotAllowed("Only Client Administrators can remove team members.")
        if membership.user_id == actor.pk:
            raise NotAllowed("You can't remove your own access; ask another Client Administrator.")
        if AccessLevel.rank(membership.access_level) > AccessLevel.rank(access_level_of(user=actor)):
            raise NotAllowed("You can't remove someone who holds more access than you.")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if locked.state != Membership.State.DISABLED:
            before, level = locked.state, locked.access_level
            properties = sorted(locked.properties.values_list("code", flat=True))
            # Removed means no access at all: giving access again later grants only what that grant
            # says, never a level or property kept from before (issue 9).
            locked.state, locked.access_level = Membership.State.DISABLED, ""
            locked.save(update_fields=["state", "access_level", "updated"])
            locked.properties.clear()
            audit_record(actor=actor, action="member.remove", tenant=tenant, target=locked.user.username,
                         data={"state": [before, locked.state], "access_level": level,
                               "properties": properties})
            if before == Membership.State.ACTIVE:  # someone in the Waiting Room had nothing to lose
                email_queue(
                    tenant=tenant, kind="member.access_removed", to=[locked.user.email or locked.user.username],
                    template="access_removed", context={"first_name": locked.user.first_name},
                )
    return locked


def access_granted_email_queue(*, tenant: Tenant, membership: Membership, key: str | None) -> None:
    """"You can now sign in", with the tenant's sign-on URL (call inside the tenant's schema)."""
    user = membership.user
    level = AccessLevel(membership.access_level)
    properties = list(Property.objects.all()) if level_sees_all_properties(level) else list(membership.properties.all())
    email_queue(
        tenant=tenant, kind="member.access_granted", to=[user.email or user.username],
        template="access_granted",
        context={"first_name": user.first_name, "email": user.email or user.username,
                 "access_level_label": level.label, "property_names": [p.name for p in properties],
                 "all_properties": level_sees_all_properties(level),
                 "sign_on_url": tenant_sign_on_url(tenant=tenant)},
        dedupe_key=f"{key}:approved:user" if key else None,
    )


def member_unbind(*, tenant: Tenant, membership_id: int, actor: Actor) -> Membership:
    """Support staff only: forget a member's binding to their IdP identity (issuer and immutable
    ID), e.g. after the customer rebuilt their directory. The next sign-in with an object id binds
    them again; until then they are matched by e-mail, as before their first sign-in. Audited,
    with the binding that was removed. Enters the tenant's schema."""
    if not (isinstance(actor, User) and actor.is_staff):
        raise NotAllowed("Only Portico support staff can unbind a member's identity.")
    with schema_context(tenant.schema_name), transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").filter(pk=membership_id).first()
        if locked is None:
            raise ProvisioningError(f"No such member in {tenant.name}.")
        if not locked.is_bound:
            raise ProvisioningError(f"{locked.user.username} is not bound to an identity.")
        before = {"issuer": locked.idp_entity_id, "object_id": locked.idp_object_id,
                  "bound_at": locked.bound_at.isoformat() if locked.bound_at else None}
        locked.idp_entity_id, locked.idp_object_id, locked.bound_at = "", "", None
        locked.save(update_fields=["idp_entity_id", "idp_object_id", "bound_at", "updated"])
        audit_record(actor=actor, action="member.unbind", tenant=tenant, target=locked.user.username, data=before)
    return locked


def sessions_end_for(*, user_id: int) -> int:
    """Delete every session of this user in the current (tenant) schema; returns how many.

    The one way a person's sessions are ended from outside their browser: directory sync
    (SCIM `active: false`, DELETE) and an IdP's single-logout request (sso.slo) both call it.
    """
    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user_id):
            doomed.append(session.session_key)
    # Through the configured engine, not the table: with cached_db a session lives in the cache too,
    # and deleting only its row would leave it signed in from there.
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in doomed:
        store(session_key=key).delete()
    return len(doomed)
