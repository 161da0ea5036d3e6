"""Provisioning operations: properties, users, access, and the New User request workflow.

Tenant-schema work (users, memberships, properties) runs in the schema the connection is in,
except where a function takes a public-schema row (a New User request) and enters its tenant's
schema itself. Every change of someone's access writes an audit record in the same transaction;
e-mails are queued for after the commit (provisioning.emails).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django_tenants.utils import schema_context

from provisioning.emails import email_queue
from provisioning.errors import (
    AlreadyAsked,
    AlreadyDecided,
    NotAllowed,
    ProvisioningError,
    SignInRefusal,
    SignInRefused,
    problems_raise,
)
from provisioning.models import AccessLevel, Membership, Property
from provisioning.selectors import (
    ACCESS_ASK_INTERVAL,
    access_ask_last,
    access_level_of,
    access_levels_grantable_by,
    level_sees_all_properties,
    member_can_manage_team,
    member_can_request_users,
    properties_visible_to,
    property_manager_emails,
    tenant_sign_on_url,
    tenant_url,
)
from provisioning.types import BulkDecision, MemberChange, RequestedProperty
from tenants.addresses import InvalidAddress, ascii_lower, email_canonical
from tenants.models import NewUserRequest, OutboundEmail, Tenant
from tenants.selectors import email_domains_of, tenant_current
from tenants.services import actor_label, audit_record
from tenants.types import Actor

T = TypeVar("T")



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


def _user_for_email(email: str, *, lock: bool = False) -> AbstractBaseUser | None:
    # Exact: addresses are stored canonical (tenants.addresses); iexact would fold look-alikes (UPPER("ı") = "I").
    rows = get_user_model().objects.filter(Q(username=email) | Q(email=email)).order_by("pk")
    return (rows.select_for_update() if lock else rows).first()


def _user_create(*, email: str, first_name: str, last_name: str) -> AbstractBaseUser:
    # Tenant users only ever sign in through their organisation's IdP.
    user = get_user_model()(username=email, email=email, first_name=(first_name or "").strip()[:150],
                last_name=(last_name or "").strip()[:150])
    user.set_unusable_password()
    user.save()
    return user


def _user_names_fill(user: AbstractBaseUser, *, first_name: str, last_name: str) -> None:
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
) -> tuple[AbstractBaseUser, bool, Membership, bool]:
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
) -> AbstractBaseUser:
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
    if granted == AccessLevel.SUPPORT:
        granted = None
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
) -> AbstractBaseUser:
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

def _check_may_grant(*, actor: Actor, access_level: AccessLevel, properties: Sequence[Property]) -> None:
    """A tenant user may grant only what they hold: levels up to their own, properties they see."""
    if not isinstance(actor, AbstractBaseUser):
        return  # the CLI and support staff act for Portico, not as a tenant member
    if access_level not in access_levels_grantable_by(user=actor):
        own = AccessLevel(access_level_of(user=actor)).label if access_level_of(user=actor) else "no"
        raise NotAllowed(
            f"You can't grant {access_level.label} access: you hold {own} access.", field="access_level"
        )
    visible = set(properties_visible_to(user=actor).values_list("pk", flat=True))
    outside = [p.name for p in properties if p.pk not in visible]
    if outside:
        raise NotAllowed(f"You can't grant access to {', '.join(outside)}.", field="properties")


def _level_require(access_level: AccessLevel | str | None) -> AccessLevel:
    level = AccessLevel.parse(access_level) if isinstance(access_level, str) else access_level
    if level is None:
        choices = ", ".join(choice.value for choice in AccessLevel)
        raise ProvisioningError(f"Unknown access level {access_level!r}. Choose one of: {choices}.",
                                field="access_level")
    return level


def _properties_require(level: AccessLevel, properties: Sequence[Property]) -> None:
    if not properties and not level_sees_all_properties(level):
        raise ProvisioningError(f"Choose at least one property for {level.label} access.", field="properties")


def _membership_apply(
    *, email: str, first_name: str, last_name: str, access_level: AccessLevel, properties: Sequence[Property],
    origin: str, add_properties: bool = False, keep_higher_level: bool = False,
) -> MemberChange:
    """Create or update the user and make their membership active with this access (locked)."""
    user, user_created, membership, membership_created = _member_lock_or_create(
        email=email, first_name=first_name, last_name=last_name, origin=origin
    )
    membership.user = user  # callers read it after leaving the tenant's schema
    if membership.state in (Membership.State.SUSPENDED, Membership.State.DEPROVISIONED):
        # The directory (SCIM) owns this person's standing; a Portico grant would be silently undone.
        raise ProvisioningError(f"{email} is {membership.get_state_display().lower()}: enable them in your "
                                "directory (Entra) first.", field="email")
    changes: dict[str, list] = {}
    level = access_level
    if keep_higher_level and AccessLevel.rank(membership.access_level) > AccessLevel.rank(level):
        level = AccessLevel(membership.access_level)
    before_props = sorted(membership.properties.values_list("code", flat=True))
    wanted = {p.pk: p for p in properties}
    if add_properties:
        wanted.update({p.pk: p for p in membership.properties.all()})
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
) -> tuple[str, AccessLevel, list[Property]]:
    """Every problem with adding a team member at once (None: the form reported that value already)."""
    if isinstance(actor, AbstractBaseUser) and not member_can_manage_team(user=actor):
        raise NotAllowed("Only Client Administrators can add team members.")
    problems: list[ProvisioningError] = []
    level = _collect(problems, lambda: _level_require(access_level)) if access_level is not None else None
    checked = None
    if email is not None:
        checked = _collect(problems, lambda: _member_email_check(tenant=tenant, email=email, actor=actor))
    props = list(properties) if properties is not None else None
    if level is not None and props is not None:
        before = len(problems)
        _collect(problems, lambda: _properties_require(level, props))
        if len(problems) == before:
            _collect(problems, lambda: _check_may_grant(actor=actor, access_level=level, properties=props))
    problems_raise(problems)
    return checked, level, props or []


def _member_email_check(*, tenant: Tenant, email: str, actor: Actor) -> str:
    if isinstance(actor, AbstractBaseUser):
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
    email, level, properties = member_add_check(tenant=tenant, email=email, access_level=access_level,
                                                properties=properties, actor=actor)
    with transaction.atomic():
        result = _membership_apply(
            email=email, first_name=first_name, last_name=last_name, access_level=level, properties=properties,
            origin=Membership.Origin.PRE_PROVISIONED,
        )
        if result.changed:
            audit_record(actor=actor, action="member.add", tenant=tenant, target=email,
                         data={"user_created": result.user_created, "changes": result.changes})
            if notify:
                _email_access_granted(tenant=tenant, membership=result.membership, key=None)
    return result


def member_access_change(
    *, tenant: Tenant, membership: Membership, access_level: AccessLevel | str, properties: Sequence[Property],
    actor: Actor,
) -> MemberChange:
    """Change a member's access level and properties (Team Members); a Waiting Room member is let in."""
    level = _level_require(access_level)
    if isinstance(actor, AbstractBaseUser):
        if not member_can_manage_team(user=actor):
            raise NotAllowed("Only Client Administrators can change team members' access.")
        if membership.user_id == actor.pk and AccessLevel.rank(level) < AccessLevel.rank(membership.access_level):
            raise NotAllowed("You can't lower your own access level; ask another Client Administrator.",
                             field="access_level")
        if AccessLevel.rank(membership.access_level) > AccessLevel.rank(access_level_of(user=actor)):
            raise NotAllowed("You can't change the access of someone who holds more access than you.")
    properties = list(properties)
    _properties_require(level, properties)
    _check_may_grant(actor=actor, access_level=level, properties=properties)
    user = membership.user
    with transaction.atomic():
        result = _membership_apply(
            email=user.username, first_name="", last_name="", access_level=level, properties=properties,
            origin=Membership.Origin.PRE_PROVISIONED,
        )
        if result.changed:
            audit_record(actor=actor, action="member.access_change", tenant=tenant, target=user.username,
                         data={"changes": result.changes})
            if "state" in result.changes:  # let in from the Waiting Room, or given access again
                _email_access_granted(tenant=tenant, membership=result.membership, key=None)
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
    if isinstance(actor, AbstractBaseUser) and not member_can_manage_team(user=actor):
        raise NotAllowed("Only Client Administrators can resend invitations.")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if locked.state != Membership.State.ACTIVE or not locked.user.is_active:
            raise ProvisioningError(f"{locked.user.email} has no access to be invited to; give them access first.")
        audit_record(actor=actor, action="member.invite_resend", tenant=tenant, target=locked.user.username)
        _email_access_granted(tenant=tenant, membership=locked, key=None)


def member_remove(*, tenant: Tenant, membership: Membership, actor: Actor) -> Membership:
    """Take someone's access away: they are signed out of everything at their next request and
    SSO no longer lets them in. Their record stays, so it can be given back."""
    if isinstance(actor, AbstractBaseUser):
        if not member_can_manage_team(user=actor):
            raise NotAllowed("Only Client Administrators can remove team members.")
        if membership.user_id == actor.pk:
            raise NotAllowed("You can't remove your own access; ask another Client Administrator.")
        if AccessLevel.rank(membership.access_level) > AccessLevel.rank(access_level_of(user=actor)):
            raise NotAllowed("You can't remove someone who holds more access than you.")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        if locked.state != Membership.State.DISABLED:
            before = locked.state
            locked.state = Membership.State.DISABLED
            locked.save(update_fields=["state", "updated"])
            audit_record(actor=actor, action="member.remove", tenant=tenant, target=locked.user.username,
                         data={"state": [before, locked.state], "access_level": locked.access_level})
            if before == Membership.State.ACTIVE:  # someone in the Waiting Room had nothing to lose
                email_queue(
                    tenant=tenant, kind="member.access_removed", to=[locked.user.email or locked.user.username],
                    template="access_removed", context={"first_name": locked.user.first_name},
                )
    return locked


# --- New User requests --------------------------------------------------------------------------

def _collect(problems: list[ProvisioningError], check: Callable[[], T]) -> T | None:
    """Run one check; a problem is kept for reporting with the others instead of stopping here."""
    try:
        return check()
    except ProvisioningError as exc:
        problems.extend(exc.problems)
        return None


def new_user_request_check(
    *, tenant: Tenant, requester: AbstractBaseUser, email: str | None, first_name: str | None,
    last_name: str | None, access_level: AccessLevel | str | None, properties: Sequence[Property] | None,
) -> tuple[str, AccessLevel]:
    """Every problem with a New User request at once (raised together as Problems); the normalized
    e-mail and the access level when there is none. None for a value means "the form reported
    it already": its check is skipped."""
    if not member_can_request_users(user=requester):
        raise NotAllowed("Your access level doesn't allow requesting new users.")
    problems: list[ProvisioningError] = []
    checked_email = _collect(problems, lambda: _request_email_check(tenant=tenant, email=email)) \
        if email is not None else None
    if first_name is not None and not first_name.strip():
        problems.append(ProvisioningError("Enter a first name.", field="first_name"))
    if last_name is not None and not last_name.strip():
        problems.append(ProvisioningError("Enter a surname.", field="last_name"))
    level = _collect(problems, lambda: _level_require(access_level)) if access_level is not None else None
    if properties is not None and not list(properties):
        problems.append(ProvisioningError("Choose at least one property.", field="properties"))
    elif properties is not None and level is not None:
        _collect(problems, lambda: _check_may_grant(actor=requester, access_level=level, properties=list(properties)))
    elif level is not None:
        _collect(problems, lambda: _check_may_grant(actor=requester, access_level=level, properties=[]))
    problems_raise(problems)
    return checked_email, level


def _request_email_check(*, tenant: Tenant, email: str) -> str:
    email = email_validate_for_tenant(tenant=tenant, email=email)
    existing = Membership.objects.filter(Q(user__username=email) | Q(user__email__iexact=email)).first()
    if existing is not None and existing.state == Membership.State.ACTIVE and existing.user.is_active:
        raise ProvisioningError(
            f"{email} already has access. A Client Administrator can change it on Team Members.", field="email"
        )
    if NewUserRequest.objects.filter(tenant=tenant, email__iexact=email, status=NewUserRequest.Status.PENDING).exists():
        raise ProvisioningError(f"A request for {email} is already waiting for support.", field="email")
    return email


def new_user_request_create(
    *,
    tenant: Tenant,
    requester: AbstractBaseUser,
    email: str,
    first_name: str,
    last_name: str,
    access_level: AccessLevel | str,
    properties: Sequence[Property],
    from_property: Property | None = None,
) -> NewUserRequest:
    """A Property Manager's or Client Administrator's request that support give someone access.

    The person may never have signed in (pre-provisioning) or be in the Waiting Room already.
    Support staff are e-mailed once the request is committed.
    """
    email, level = new_user_request_check(tenant=tenant, requester=requester, email=email, first_name=first_name,
                                          last_name=last_name, access_level=access_level, properties=properties)
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    properties = list(properties)
    existing = Membership.objects.filter(Q(user__username=email) | Q(user__email__iexact=email)).first()
    requested: list[RequestedProperty] = [{"id": p.pk, "name": p.name, "code": p.code} for p in properties]
    requester_name = requester.get_full_name() if hasattr(requester, "get_full_name") else ""
    try:
        with transaction.atomic():
            row = NewUserRequest.objects.create(
                tenant=tenant, email=email, first_name=first_name[:150], last_name=last_name[:150],
                access_level=level.value, properties=requested,
                requested_by_email=requester.email or requester.get_username(),
                requested_by_name=requester_name[:300], requested_by_user_id=requester.pk,
                requested_from_property=(from_property.name if from_property else "")[:200],
            )
            audit_record(actor=requester, action="new_user_request.create", tenant=tenant, target=email,
                         data={"request_id": row.pk, "access_level": level.value,
                               "properties": [p["code"] for p in requested]})
            email_queue(
                tenant=tenant, kind="new_user_request.submitted", to=settings.PORTICO_SUPPORT_EMAILS,
                template="new_user_request_submitted",
                context={"request": row, "access_level_label": level.label, "admin_url": _admin_url(row),
                         "waiting": existing is not None and existing.state == Membership.State.WAITING_ROOM},
                dedupe_key=f"new_user_request:{row.pk}:submitted",
            )
    except IntegrityError as exc:  # the partial unique index: a concurrent request for the same e-mail
        raise ProvisioningError(f"A request for {email} is already waiting for support.", field="email") from exc
    return row


def _manage_url(row: NewUserRequest) -> str:
    """The Manage page of the (first) property the request was for, where a corrected one is sent."""
    code = next((p.get("code") for p in row.properties if p.get("code")), None)
    path = (reverse("property_manage", args=[code], urlconf="portal.urls_tenant") if code
            else reverse("home", urlconf="portal.urls_tenant"))
    return tenant_url(tenant=row.tenant, path=path)


def _admin_url(row: NewUserRequest) -> str:
    return f"{settings.PORTICO_BASE_URL}/admin/tenants/newuserrequest/{row.pk}/change/"


def _request_lock(request_id: int) -> NewUserRequest:
    row = NewUserRequest.objects.select_for_update(of=("self",)).select_related("tenant").filter(pk=request_id).first()
    if row is None:
        raise ProvisioningError(f"New User request #{request_id} does not exist.")
    if row.status != NewUserRequest.Status.PENDING:
        raise AlreadyDecided(f"The request for {row.email} was {row.get_status_display().lower()} already.")
    return row


def _staff_require(actor: Actor) -> None:
    if not (isinstance(actor, AbstractBaseUser) and getattr(actor, "is_staff", False)):
        raise NotAllowed("Only Portico support staff decide New User requests.")


def new_user_request_approve(*, new_user_request: NewUserRequest | int, actor: Actor) -> NewUserRequest:
    """Approve: in the request's tenant schema, make the person an active member with the access
    asked for, all in one transaction with the decision and its audit record; then e-mail the new
    user (with the tenant's sign-on URL) and the requester."""
    _staff_require(actor)
    request_id = new_user_request if isinstance(new_user_request, int) else new_user_request.pk
    with transaction.atomic():
        row = _request_lock(request_id)
        tenant = row.tenant
        level = _level_require(row.access_level)
        with schema_context(tenant.schema_name):
            ids = [p.get("id") for p in row.properties]
            codes = [p.get("code") for p in row.properties]
            found = list(Property.objects.filter(Q(pk__in=ids) | Q(code__in=codes)))
            found_codes = {p.code for p in found}
            missing = [p.get("name") or p.get("code") for p in row.properties if p.get("code") not in found_codes]
            if not found and not level_sees_all_properties(level):
                raise ProvisioningError(
                    f"None of the properties asked for {row.email} exist in {tenant.name} any more; reject it.")
            result = _membership_apply(
                email=email_normalize(row.email), first_name=row.first_name, last_name=row.last_name,
                access_level=level, properties=found, origin=Membership.Origin.REQUEST,
                add_properties=True, keep_higher_level=True,
            )
            _email_access_granted(tenant=tenant, membership=result.membership, key=f"new_user_request:{row.pk}")
        row.status = NewUserRequest.Status.APPROVED
        row.decided_by = actor
        row.decided_by_label = actor_label(actor)
        row.decided_at = timezone.now()
        row.decision_changes = {"user_created": result.user_created, "changes": result.changes,
                                "properties_missing": missing}
        row.save(update_fields=["status", "decided_by", "decided_by_label", "decided_at", "decision_changes"])
        audit_record(actor=actor, action="new_user_request.approve", tenant=tenant, target=row.email,
                     data={"request_id": row.pk, **row.decision_changes})
        email_queue(
            tenant=tenant, kind="new_user_request.approved", to=[row.requested_by_email],
            template="new_user_request_approved",
            context={"request": row, "access_level_label": level.label, "portal_url": tenant_sign_on_url(tenant=tenant)},
            dedupe_key=f"new_user_request:{row.pk}:approved:requester",
        )
    return row


def _email_access_granted(*, tenant: Tenant, membership: Membership, key: str | None) -> None:
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


def new_user_request_reject(*, new_user_request: NewUserRequest | int, actor: Actor, reason: str) -> NewUserRequest:
    """Reject with a reason the requester is told by e-mail; nobody's access changes."""
    _staff_require(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ProvisioningError("Give a reason for the rejection; the requester is told it.", field="reason")
    request_id = new_user_request if isinstance(new_user_request, int) else new_user_request.pk
    with transaction.atomic():
        row = _request_lock(request_id)
        row.status = NewUserRequest.Status.REJECTED
        row.decided_by = actor
        row.decided_by_label = actor_label(actor)
        row.decided_at = timezone.now()
        row.rejection_reason = reason[:4000]
        row.decision_changes = {}
        row.save(update_fields=["status", "decided_by", "decided_by_label", "decided_at", "rejection_reason",
                                "decision_changes"])
        audit_record(actor=actor, action="new_user_request.reject", tenant=row.tenant, target=row.email,
                     data={"request_id": row.pk, "reason": row.rejection_reason})
        email_queue(
            tenant=row.tenant, kind="new_user_request.rejected", to=[row.requested_by_email],
            template="new_user_request_rejected",
            context={"request": row, "access_level_label": AccessLevel(row.access_level).label
                     if AccessLevel.parse(row.access_level) else row.access_level,
                     "manage_url": _manage_url(row)},
            dedupe_key=f"new_user_request:{row.pk}:rejected:requester",
        )
    return row


def new_user_requests_approve(*, request_ids: Iterable[int], actor: Actor) -> BulkDecision:
    """Approve several requests, each in its own transaction: one that fails leaves the others."""
    _staff_require(actor)
    decided, skipped = [], {}
    for request_id in request_ids:
        try:
            new_user_request_approve(new_user_request=request_id, actor=actor)
            decided.append(request_id)
        except ProvisioningError as exc:
            skipped[request_id] = exc.message
    return BulkDecision(decided=decided, skipped=skipped)


def new_user_requests_reject(*, request_ids: Iterable[int], actor: Actor, reason: str) -> BulkDecision:
    """Reject several requests with one reason, each in its own transaction."""
    _staff_require(actor)
    if not (reason or "").strip():
        raise ProvisioningError("Give a reason for the rejection; the requester is told it.", field="reason")
    decided, skipped = [], {}
    for request_id in request_ids:
        try:
            new_user_request_reject(new_user_request=request_id, actor=actor, reason=reason)
            decided.append(request_id)
        except ProvisioningError as exc:
            skipped[request_id] = exc.message
    return BulkDecision(decided=decided, skipped=skipped)


# --- The Waiting Room ------------------------------------------------------------------------------

def waiting_room_access_ask(*, tenant: Tenant, user: AbstractBaseUser) -> list[str]:
    """A Waiting Room visitor's "Ask for access": e-mail the tenant's property managers (or its
    Client Administrators where it has none) who is waiting, with a link that files the New User
    request pre-filled. Once per person per ACCESS_ASK_INTERVAL; returns who was e-mailed.
    """
    email = email_normalize(user.email or user.get_username())
    with transaction.atomic():
        # The lock makes two quick presses one: the second sees the first one's audit record.
        membership = Membership.objects.select_for_update().filter(user=user).first()
        if membership is None or membership.state != Membership.State.WAITING_ROOM or not user.is_active:
            raise NotAllowed("Only people in the Waiting Room can ask for access.")
        last = access_ask_last(tenant=tenant, email=email)
        if last is not None and last.created > timezone.now() - ACCESS_ASK_INTERVAL:
            again = timezone.localtime(last.created + ACCESS_ASK_INTERVAL)
            raise AlreadyAsked(
                f"You asked already, at {timezone.localtime(last.created):%H:%M}; we e-mailed "
                f"{_people(len(last.data.get('notified', [])))} then. You can ask again after {again:%H:%M}."
            )
        recipients = property_manager_emails(tenant=tenant)
        if not recipients:
            raise ProvisioningError(
                f"Nobody at {tenant.name} can give access yet. Ask Portico support for help.")
        audit_record(actor=user, action="waiting_room.access_ask", tenant=tenant, target=email,
                     data={"notified": recipients})
        email_queue(
            tenant=tenant, kind="waiting_room.access_ask", to=recipients, template="access_asked",
            context={"person_name": user.get_full_name() or email, "email": email,
                     "since": membership.created,
                     "request_url": tenant_url(tenant=tenant, path=reverse("waiting_member_request", args=[membership.pk], urlconf="portal.urls_tenant"))},
        )
    return recipients


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def new_user_request_withdraw(*, tenant: Tenant, request_id: int, actor: AbstractBaseUser) -> NewUserRequest:
    """The requester (or a Client Administrator of the tenant) takes back a request support has
    not decided yet; nobody's access changes."""
    with transaction.atomic():
        row = NewUserRequest.objects.select_for_update().filter(pk=request_id, tenant=tenant).first()
        if row is None:
            raise ProvisioningError("No such New User request.")
        if row.requested_by_user_id != actor.pk and not member_can_manage_team(user=actor):
            raise NotAllowed("Only whoever sent the request, or a Client Administrator, can withdraw it.")
        if row.status != NewUserRequest.Status.PENDING:
            raise AlreadyDecided(f"The request for {row.email} was {row.get_status_display().lower()} already.")
        row.status = NewUserRequest.Status.WITHDRAWN
        row.decided_at = timezone.now()
        row.decided_by_label = actor_label(actor)
        row.save(update_fields=["status", "decided_at", "decided_by_label"])
        audit_record(actor=actor, action="new_user_request.withdraw", tenant=tenant, target=row.email,
                     data={"request_id": row.pk})
    return row


# How long support staff may undo an approval made by mistake.
APPROVAL_UNDO_WINDOW = timezone.timedelta(minutes=15)


def new_user_request_approval_undo(*, new_user_request: NewUserRequest | int, actor: Actor) -> NewUserRequest:
    """Undo an approval within APPROVAL_UNDO_WINDOW: put the person's access back as it was
    before (from the decision's recorded changes), put the request back in the queue as pending,
    and tell the person that the access they were e-mailed about is not theirs after all."""
    _staff_require(actor)
    request_id = new_user_request if isinstance(new_user_request, int) else new_user_request.pk
    with transaction.atomic():
        row = NewUserRequest.objects.select_for_update(of=("self",)).select_related("tenant").filter(
            pk=request_id).first()
        if row is None:
            raise ProvisioningError(f"New User request #{request_id} does not exist.")
        if row.status != NewUserRequest.Status.APPROVED:
            raise AlreadyDecided(f"The request for {row.email} is {row.get_status_display().lower()}, not approved.")
        if row.decided_at is None or row.decided_at < timezone.now() - APPROVAL_UNDO_WINDOW:
            minutes = int(APPROVAL_UNDO_WINDOW.total_seconds() // 60)
            raise ProvisioningError(f"An approval can be undone for {minutes} minutes only. Remove the person's "
                                    "access instead (the tenant's Client Administrator, on Team Members).")
        decision = row.decision_changes or {}
        tenant = row.tenant
        with schema_context(tenant.schema_name):
            membership = (Membership.objects.select_for_update().select_related("user")
                          .filter(user__username=email_normalize(row.email)).first())
            if membership is not None:
                _membership_restore(membership, decision)
        previous = {"decided_by": row.decided_by_label, "decided_at": row.decided_at.isoformat()}
        row.status = NewUserRequest.Status.PENDING
        row.decided_by, row.decided_by_label, row.decided_at, row.decision_changes = None, "", None, {}
        row.save(update_fields=["status", "decided_by", "decided_by_label", "decided_at", "decision_changes"])
        # A second approval must e-mail again: free the keys the first one's e-mails took.
        OutboundEmail.objects.filter(dedupe_key__startswith=f"new_user_request:{row.pk}:approved").update(
            dedupe_key=None)
        audit_record(actor=actor, action="new_user_request.undo", tenant=tenant, target=row.email,
                     data={"request_id": row.pk, "undone": decision.get("changes", {}), **previous})
        email_queue(tenant=tenant, kind="new_user_request.undone", to=[row.email], template="approval_undone",
                    context={"first_name": row.first_name})
    return row


def _membership_restore(membership: Membership, decision: dict) -> None:
    """Put a membership back as it was before an approval changed it (call in the tenant's schema)."""
    changes = decision.get("changes") or {}
    user = membership.user
    if decision.get("user_created") and membership.last_sso_at is None:
        user.delete()  # the approval created this never-used account; nothing else refers to it
        return
    if "state" in changes:
        membership.state = changes["state"][0] or Membership.State.WAITING_ROOM
    if "access_level" in changes:
        membership.access_level = changes["access_level"][0] or ""
    if "properties" in changes:
        membership.properties.set(list(Property.objects.filter(code__in=changes["properties"][0])))
    membership.save()
    if "user_active" in changes:
        get_user_model().objects.filter(pk=user.pk).update(is_active=bool(changes["user_active"][0]))


def new_user_request_preview(*, new_user_request: NewUserRequest) -> list[str]:
    """What approving would change, in words, for the confirmation page (reads the tenant's schema)."""
    row = new_user_request
    level = AccessLevel.parse(row.access_level)
    wanted = [p.get("name") or p.get("code") for p in row.properties]
    with schema_context(row.tenant.schema_name):
        membership = (Membership.objects.select_related("user").prefetch_related("properties")
                      .filter(user__username=email_normalize(row.email)).first())
        existing = {p.code for p in Property.objects.filter(code__in=[p.get("code") for p in row.properties])}
    label = level.label if level else row.access_level
    lines = []
    if membership is None:
        lines.append(f"A Portico account is created for {row.first_name} {row.last_name} ({row.email}); "
                     "they have not signed in yet.")
    elif membership.state == Membership.State.WAITING_ROOM:
        lines.append(f"{row.email} leaves the Waiting Room (waiting since "
                     f"{timezone.localtime(membership.created):%-d %b %Y, %H:%M %Z}).")
    elif membership.state == Membership.State.DISABLED:
        lines.append(f"{row.email} gets access again (it had been removed).")
    if membership is not None and membership.state == Membership.State.ACTIVE and AccessLevel.rank(
            membership.access_level) > AccessLevel.rank(row.access_level):
        lines.append(f"They keep their higher {membership.get_access_level_display()} access.")
    else:
        lines.append(f"They get {label} access.")
    found = [p.get("name") or p.get("code") for p in row.properties if p.get("code") in existing]
    missing = [name for name in wanted if name not in found]
    if found:
        lines.append(f"They get access to {', '.join(found)}.")
    if missing:
        lines.append(f"Not granted, no longer in {row.tenant.name}: {', '.join(missing)}.")
    lines.append(f"{row.email} and {row.requested_by_email} are e-mailed. You can undo this for "
                 f"{int(APPROVAL_UNDO_WINDOW.total_seconds() // 60)} minutes.")
    return lines
