"""The cross-tenant support workflow: New User requests support staff decide, and set-up links.

Set-up links: onboarding a new tenant's first Client Administrator.

A new tenant has no identity provider yet, so nobody can sign in to connect one, and tenant users
have no passwords. Support staff send the customer's administrator a one-time set-up link; opening
it makes that address an active Client Administrator and signs them in once, on the tenant's host,
so they can reach the SSO settings page. Only the token's hash is stored.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from outbox.models import OutboundEmail
from outbox.services import email_queue
from provisioning.errors import AlreadyAsked, AlreadyDecided, NotAllowed, ProvisioningError, problems_raise
from provisioning.models import AccessLevel, Membership, Property
from provisioning.selectors import (
    ACCESS_ASK_INTERVAL,
    access_ask_last,
    level_sees_all_properties,
    member_can_manage_team,
    member_can_request_users,
    property_manager_emails,
    tenant_sign_on_url,
    tenant_url,
)
from provisioning.services import (
    access_grant_check,
    access_granted_email_queue,
    access_level_require,
    email_normalize,
    email_validate_for_tenant,
    member_add,
    membership_apply,
    problems_collect,
)
from provisioning.types import BulkDecision, RequestedProperty
from support.models import NewUserRequest, SetupLink
from support.selectors import setup_link_usable
from tenants.models import Tenant
from tenants.selectors import email_domains_of, host_base_url
from tenants.services import actor_label, audit_record
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
    if isinstance(actor, User) and not getattr(actor, "is_staff", False):
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
    url = host_base_url(host=host) + SETUP_PATH.format(token=token)
    now = timezone.now()
    hours = settings.PORTICO_SETUP_LINK_HOURS
    with transaction.atomic():
        replaced = SetupLink.objects.filter(tenant=tenant, email__iexact=email, used_at__isnull=True,
                                            expires_at__gt=now).update(expires_at=now)
        link = SetupLink.objects.create(
            tenant=tenant, email=email, token_sha256=SetupLink.token_digest(token),
            created_by=actor if isinstance(actor, User) else None,
            expires_at=now + timedelta(hours=hours),
        )
        audit_record(actor=actor, action="setup_link.create", tenant=tenant, target=email,
                     data={"setup_link_id": link.pk, "expires_at": link.expires_at.isoformat(),
                           "earlier_links_revoked": replaced})
        email_queue(
            tenant=tenant, kind="setup_link", to=[email], template="setup_link",
            context={"email": email, "expires_at": link.expires_at, "hours": hours},
            sealed={"setup_url": url},  # the live link: unreadable in the outbox until it is sent
            dedupe_key=f"setup_link:{link.pk}",
        )
    return link, url


def setup_link_redeem(*, tenant: Tenant, token: str) -> User:
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
            if held and AccessLevel.rank(held) > AccessLevel.rank(level):
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


# --- New User requests --------------------------------------------------------------------------

def new_user_request_check(
    *, tenant: Tenant, requester: User, email: str | None, first_name: str | None,
    last_name: str | None, access_level: AccessLevel | str | None, properties: Sequence[Property] | None,
) -> tuple[str | None, AccessLevel | None]:
    """Every problem with a New User request at once (raised together as Problems); the normalized
    e-mail and the access level when there is none. None for a value means "the form reported
    it already": its check is skipped."""
    if not member_can_request_users(user=requester):
        raise NotAllowed("Your access level doesn't allow requesting new users.")
    problems: list[ProvisioningError] = []
    checked_email = problems_collect(problems, lambda: _request_email_check(tenant=tenant, email=email)) \
        if email is not None else None
    if first_name is not None and not first_name.strip():
        problems.append(ProvisioningError("Enter a first name.", field="first_name"))
    if last_name is not None and not last_name.strip():
        problems.append(ProvisioningError("Enter a surname.", field="last_name"))
    level = (problems_collect(problems, lambda: access_level_require(access_level=access_level))
             if access_level is not None else None)
    if properties is not None and not list(properties):
        problems.append(ProvisioningError("Choose at least one property.", field="properties"))
    elif properties is not None and level is not None:
        problems_collect(problems, lambda: access_grant_check(actor=requester, access_level=level,
                                                              properties=list(properties)))
    elif level is not None:
        problems_collect(problems, lambda: access_grant_check(actor=requester, access_level=level, properties=[]))
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
    requester: User,
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
    checked, level = new_user_request_check(tenant=tenant, requester=requester, email=email, first_name=first_name,
                                            last_name=last_name, access_level=access_level, properties=properties)
    assert checked is not None and level is not None  # both were given, so both were checked
    email = checked
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
    return f"{settings.PORTICO_BASE_URL}/admin/support/newuserrequest/{row.pk}/change/"


def _request_lock(request_id: int) -> NewUserRequest:
    row = NewUserRequest.objects.select_for_update(of=("self",)).select_related("tenant").filter(pk=request_id).first()
    if row is None:
        raise ProvisioningError(f"New User request #{request_id} does not exist.")
    if row.status != NewUserRequest.Status.PENDING:
        raise AlreadyDecided(f"The request for {row.email} was {row.get_status_display().lower()} already.")
    return row


def _staff_require(actor: Actor) -> None:
    if not (isinstance(actor, User) and getattr(actor, "is_staff", False)):
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
        level = access_level_require(access_level=row.access_level)
        with schema_context(tenant.schema_name):
            ids = [p.get("id") for p in row.properties]
            codes = [p.get("code") for p in row.properties]
            found = list(Property.objects.filter(Q(pk__in=ids) | Q(code__in=codes)))
            found_codes = {p.code for p in found}
            missing = [p.get("name") or p.get("code") for p in row.properties if p.get("code") not in found_codes]
            if not found and not level_sees_all_properties(level):
                raise ProvisioningError(
                    f"None of the properties asked for {row.email} exist in {tenant.name} any more; reject it.")
            # Exactly what was asked, within the requester's own rights as they stand now (a
            # requester demoted or removed since cannot have more granted in their name).
            requester = get_user_model().objects.filter(pk=row.requested_by_user_id).first() \
                if row.requested_by_user_id else None
            if requester is None:
                raise ProvisioningError(f"{row.requested_by_email} no longer has an account in {tenant.name}, "
                                        "so nobody vouches for this request; reject it.")
            try:
                result = membership_apply(
                    email=email_normalize(row.email), first_name=row.first_name, last_name=row.last_name,
                    access_level=level, properties=found, origin=Membership.Origin.REQUEST, grantor=requester,
                )
            except NotAllowed as exc:
                raise NotAllowed(f"Not approved: {row.requested_by_email} asked for it, and the rules every grant "
                                 f"follows refuse it in their name: \u201c{exc}\u201d Reject the request.") from exc
            access_granted_email_queue(tenant=tenant, membership=result.membership, key=f"new_user_request:{row.pk}")
        row.status = NewUserRequest.Status.APPROVED
        row.decided_by = actor if isinstance(actor, User) else None
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
        row.decided_by = actor if isinstance(actor, User) else None
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

def waiting_room_access_ask(*, tenant: Tenant, user: User) -> list[str]:
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


def new_user_request_withdraw(*, tenant: Tenant, request_id: int, actor: User) -> NewUserRequest:
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
APPROVAL_UNDO_WINDOW = timedelta(minutes=15)


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
    if membership is not None and membership.access_level and membership.access_level != row.access_level:
        # A grant says what it grants: the level asked for replaces the one held (issue 9).
        lines.append(f"Their {membership.get_access_level_display()} access becomes {label} access.")
    else:
        lines.append(f"They get {label} access.")
    found = [p.get("name") or p.get("code") for p in row.properties if p.get("code") in existing]
    missing = [name for name in wanted if name not in found]
    if found:
        lines.append(f"They get access to {', '.join(found)}.")
    held = [p.name for p in membership.properties.all()] if membership is not None else []
    dropped = [name for name in held if name not in found]
    if dropped and level is not None and not level_sees_all_properties(level):
        lines.append(f"No longer: {', '.join(dropped)} (a grant gives exactly the properties asked for).")
    if missing:
        lines.append(f"Not granted, no longer in {row.tenant.name}: {', '.join(missing)}.")
    lines.append(f"{row.email} and {row.requested_by_email} are e-mailed. You can undo this for "
                 f"{int(APPROVAL_UNDO_WINDOW.total_seconds() // 60)} minutes.")
    return lines


# --- Support staff's second factor (Django admin) ----------------------------------------------
# Staff accounts approve access to every tenant, so a password is not enough: each enrols one
# TOTP authenticator (django-otp) and enters its code at every sign-in (portal.admin_site).

def _staff_only(user: User) -> None:
    if not getattr(user, "is_staff", False):
        raise NotAllowed("Only Portico support staff have an authenticator for Django admin.")


def staff_totp_device(*, user: User) -> TOTPDevice | None:
    """The staff member's confirmed authenticator, if they enrolled one."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def staff_totp_enrol_start(*, user: User) -> TOTPDevice:
    """The not yet confirmed authenticator to show at enrolment (one, kept until confirmed)."""
    _staff_only(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def staff_totp_enrol_confirm(*, user: User, token: str) -> TOTPDevice:
    """Confirm enrolment with a code from the new authenticator; it becomes the only one. Audited."""
    _staff_only(user)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-pk").first()
        if device is None or not device.verify_token(_token_digits(token)):
            raise NotAllowed("That code is not the one your authenticator shows now. Try the current code.",
                             field="otp_token")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        replaced = TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()[0]
        audit_record(actor=user, action="staff.totp_enrol", target=user.get_username(),
                     data={"device_id": device.pk, "replaced": replaced})
    return device


def staff_totp_verify(*, user: User, token: str) -> TOTPDevice:
    """The confirmed authenticator this code is from (each code works once); NotAllowed otherwise."""
    device = staff_totp_device(user=user)
    if device is None:
        raise NotAllowed("You have no authenticator yet; enrol one first.")
    allowed, _why = device.verify_is_allowed()
    if not allowed:
        raise NotAllowed("Too many wrong codes: wait a little, then try the current code.", field="otp_token")
    if not device.verify_token(_token_digits(token)):
        raise NotAllowed("That code is not the one your authenticator shows now (each code works once).",
                         field="otp_token")
    return device


def staff_totp_reset(*, username: str, actor: Actor) -> int:
    """Remove a staff member's authenticators (lost phone): they enrol a new one at their next
    sign-in, and sessions verified with the old one end. Audited; returns how many went."""
    user = get_user_model().objects.filter(username=username, is_staff=True).first()
    if user is None:
        raise ProvisioningError(f"No support staff account named {username!r}.")
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[0]
        audit_record(actor=actor, action="staff.totp_reset", target=username, data={"devices_removed": removed})
    return removed


def _token_digits(token: str) -> str:
    """Authenticator apps show "123 456"; only digits count, and at most a code's length."""
    return "".join(ch for ch in (token or "") if ch in "0123456789")[:8]
