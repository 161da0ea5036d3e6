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
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import schema_context

from outbox.services import email_queue
from provisioning.errors import AlreadyDecided, NotAllowed, ProvisioningError
from provisioning.models import AccessLevel, Membership, Property
from provisioning.selectors import level_sees_all_properties, member_can_request_users, tenant_sign_on_url
from provisioning.services import (
    _check_may_grant,
    _email_access_granted,
    _level_require,
    _membership_apply,
    email_normalize,
    email_validate_for_tenant,
    member_add,
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
    url = host_base_url(host=host) + SETUP_PATH.format(token=token)
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


# --- New User requests --------------------------------------------------------------------------

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
    if not member_can_request_users(user=requester):
        raise NotAllowed("Your access level doesn't allow requesting new users.")
    email = email_validate_for_tenant(tenant=tenant, email=email)
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    if not first_name:
        raise ProvisioningError("Enter a first name.", field="first_name")
    if not last_name:
        raise ProvisioningError("Enter a surname.", field="last_name")
    level = _level_require(access_level)
    properties = list(properties)
    if not properties:
        raise ProvisioningError("Choose at least one property.", field="properties")
    _check_may_grant(actor=requester, access_level=level, properties=properties)
    existing = Membership.objects.filter(Q(user__username=email) | Q(user__email__iexact=email)).first()
    if existing is not None and existing.state == Membership.State.ACTIVE and existing.user.is_active:
        raise ProvisioningError(
            f"{email} already has access. A Client Administrator can change it on Team Members.", field="email"
        )
    if NewUserRequest.objects.filter(tenant=tenant, email__iexact=email, status=NewUserRequest.Status.PENDING).exists():
        raise ProvisioningError(f"A request for {email} is already waiting for support.", field="email")
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
                     if AccessLevel.parse(row.access_level) else row.access_level},
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
