"""Directory sync (SCIM 2.0) for a tenant: what Entra's provisioning service does to Portico.

Workflow (also in docs/entra-setup.md, "Provisioning (SCIM)"):
- A SCIM-created user is a known person of the tenant, bound by `externalId` (Entra's objectId) to
  the identity SAML sign-in binds to (provisioning.models). The binding is made under the tenant's
  live IdP entity ID, or with the issuer pending when no IdP is connected yet (the first sign-in
  from the tenant's IdP completes it). An existing unbound member with the same e-mail is adopted.
- Access still comes from Portico's access levels: a SCIM group whose externalId (objectId), or
  failing that its displayName, is a key of the tenant's IdentityProvider.group_access_levels
  grants that level to its members, capped as every grant path is (never Support; the mapping is
  the tenant's Client Administrator's, so never above Client Administrator). Leaving the group
  takes back what the group gave, never what someone granted in Portico. A SCIM user with no
  mapped access waits in the Waiting Room, where property managers see them.
- `active: false` suspends: the person's sessions end at once, SSO sign-in is refused, access level
  and properties are kept; `active: true` restores the state they had. `DELETE` removes access and
  keeps an audited tombstone; neither a SAML assertion nor a Portico grant revives either.
- Every change is audited with the token as actor ("scim:<token name>") in the same transaction.
"""
from __future__ import annotations

import copy
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from provisioning.models import AccessLevel, Membership
from provisioning.selectors import TENANT_GRANTABLE_LEVELS
from provisioning.services import email_normalize, mapping_may_grant, sessions_end_for
from scim.errors import ScimError, invalid_value, not_found
from scim.models import ScimGroup, ScimToken, ScimUser
from scim.patch import ScimNoTarget, coerce, operation_apply
from sso.models import IdentityProvider
from tenants.models import Tenant
from tenants.services import audit_record
from tenants.types import Actor

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
# Stored as given, but Portico's own: never taken from a client's document.
_READ_ONLY = {"id", "meta", "schemas", "groups", "password"}
TOKEN_PREFIX = "scim"


# --- Tokens -----------------------------------------------------------------------------------

def scim_token_prefix(*, tenant: Tenant) -> str:
    """Tokens name their tenant, so one presented at another tenant's host is a 404 without a lookup."""
    return f"{TOKEN_PREFIX}_{tenant.slug}_"


def scim_token_create(*, tenant: Tenant, name: str, actor: Actor) -> tuple[ScimToken, str]:
    """A new bearer token (returned once, with its row; only the hash is stored)."""
    name = (name or "").strip()[:100] or f"Entra provisioning {timezone.now():%Y-%m-%d}"
    secret = scim_token_prefix(tenant=tenant) + secrets.token_urlsafe(32)
    with transaction.atomic():
        row = ScimToken.objects.create(name=name, token_sha256=ScimToken.digest(secret), hint=secret[-4:],
                                       created_by=_actor_text(actor))
        audit_record(actor=actor, action="scim.token_create", tenant=tenant, target=name, data={"token_id": row.pk})
    return row, secret


def scim_token_revoke(*, tenant: Tenant, token_id: int, actor: Actor) -> ScimToken:
    with transaction.atomic():
        row = ScimToken.objects.select_for_update().filter(pk=token_id).first()
        if row is None:
            raise not_found("No such token.")
        if row.revoked_at is None:
            row.revoked_at = timezone.now()
            row.revoked_by = _actor_text(actor)
            row.save(update_fields=["revoked_at", "revoked_by"])
            audit_record(actor=actor, action="scim.token_revoke", tenant=tenant, target=row.name,
                         data={"token_id": row.pk})
    return row


def scim_token_touch(*, token: ScimToken) -> None:
    """Record use, at most once a minute (every SCIM request would otherwise write)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def _actor_text(actor: Actor) -> str:
    from tenants.services import actor_label

    return actor_label(actor)[:254]


# --- Users ------------------------------------------------------------------------------------

def _clean_document(data: Any, *, urn: str) -> dict:
    if not isinstance(data, dict):
        raise invalid_value("The request body must be a SCIM resource (a JSON object).")
    doc = {k: coerce(k, v) for k, v in copy.deepcopy(data).items() if k not in _READ_ONLY}
    return doc


def _user_projection(doc: dict) -> dict[str, Any]:
    """The values Portico keeps on the user from a SCIM User document."""
    user_name = str(doc.get("userName") or "").strip()
    if not user_name:
        raise invalid_value("userName is required.")
    if len(user_name) > 256:
        raise invalid_value("userName is longer than 256 characters.")
    emails = [e for e in doc.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    preferred = next((e for e in emails if e.get("primary") is True), None) or next(
        (e for e in emails if str(e.get("type", "")).lower() == "work"), None) or (emails[0] if emails else None)
    email = email_normalize(str(preferred["value"]) if preferred else user_name)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise invalid_value(f"{email!r} is not an e-mail address: send emails[type eq \"work\"].value "
                            "or a userName that is one.") from exc
    name = doc.get("name")
    if not isinstance(name, dict):
        name = {}
    active = doc.get("active", True)
    if not isinstance(active, bool):
        raise invalid_value("active must be true or false.")
    external_id = str(doc.get("externalId") or "").strip()
    if len(external_id) > 256:
        raise invalid_value("externalId is longer than 256 characters.")
    return {"user_name": user_name, "email": email, "external_id": external_id, "active": active,
            "first_name": str(name.get("givenName") or "")[:150], "last_name": str(name.get("familyName") or "")[:150]}


def _conflict(scim_user: ScimUser, what: str) -> ScimError:
    return ScimError(409, f"A user with this {what} exists already.", scim_type="uniqueness",
                     location=f"/scim/v2/Users/{scim_user.scim_id}")


def _idp_entity_id(tenant: Tenant) -> str:
    return IdentityProvider.objects.filter(tenant=tenant).values_list("entity_id", flat=True).first() or ""


def scim_user_create(*, tenant: Tenant, data: Any, actor: str) -> ScimUser:
    """POST /Users. A repeated create for an existing userName or externalId is 409 uniqueness with
    that user's location (what Entra expects); a DELETEd person's tombstone is provisioned anew."""
    doc = _clean_document(data, urn=USER_URN)
    values = _user_projection(doc)
    with transaction.atomic():
        live = ScimUser.objects.filter(deleted_at__isnull=True)
        existing = live.filter(user_name__iexact=values["user_name"]).first()
        if existing:
            raise _conflict(existing, "userName")
        if values["external_id"]:
            existing = live.filter(external_id=values["external_id"]).first()
            if existing:
                raise _conflict(existing, "externalId")
        users = get_user_model().objects.select_for_update()
        user = users.filter(username=values["email"]).first()
        created_user = user is None
        if user is None:
            user = get_user_model()(username=values["email"], email=values["email"],
                                    first_name=values["first_name"], last_name=values["last_name"])
            user.set_unusable_password()
            user.save()
        membership = Membership.objects.select_for_update().filter(user=user).first()
        if membership is not None and hasattr(membership, "scim") and membership.scim.deleted_at is None:
            raise _conflict(membership.scim, "e-mail")
        if membership is not None and membership.is_bound and values["external_id"] and \
                membership.idp_object_id != values["external_id"]:
            raise ScimError(409, f"{values['email']} is bound to another identity in Portico; ask Portico support.",
                            scim_type="uniqueness")
        before = membership.state if membership is not None else None
        if membership is None:
            membership = Membership(user=user, state=Membership.State.WAITING_ROOM, origin=Membership.Origin.SCIM)
        elif membership.state == Membership.State.DEPROVISIONED:
            membership.state = Membership.State.WAITING_ROOM  # provisioned anew: known again, no access yet
        if values["external_id"] and not membership.is_bound:
            membership.idp_object_id, membership.idp_entity_id = values["external_id"], _idp_entity_id(tenant)
            membership.bound_at = timezone.now()
        membership.save()
        old = getattr(membership, "scim", None) if before is not None else None
        if old is not None:  # the tombstone of an earlier DELETE: its SCIM id is not reused
            old.delete()
        scim_user = ScimUser.objects.create(membership=membership, user_name=values["user_name"],
                                            external_id=values["external_id"], attributes=doc)
        audit_record(actor=actor, action="scim.user_create", tenant=tenant, target=user.username,
                     data={"scim_id": str(scim_user.scim_id), "external_id": values["external_id"],
                           "user_created": created_user, "state_before": before, "bound": membership.idp_object_id})
        if not values["active"]:
            _suspend(tenant=tenant, scim_user=scim_user, actor=actor)
    return scim_user


def _live_user(scim_id: str, *, lock: bool = True) -> ScimUser:
    from scim.filters import uuid_or_none

    key = uuid_or_none(scim_id)
    rows = ScimUser.objects.select_related("membership__user").filter(deleted_at__isnull=True)
    if lock:
        rows = rows.select_for_update(of=("self",))
    row = rows.filter(scim_id=key).first() if key else None
    if row is None:
        raise not_found(f"User {scim_id} not found.")
    return row


def scim_user_replace(*, tenant: Tenant, scim_id: str, data: Any, actor: str) -> ScimUser:
    """PUT /Users/{id}: the document replaces the stored one."""
    doc = _clean_document(data, urn=USER_URN)
    with transaction.atomic():
        scim_user = _live_user(scim_id)
        return _user_store(tenant=tenant, scim_user=scim_user, doc=doc, actor=actor, action="scim.user_replace")


def _patch_apply(doc: dict, operations: Any, *, core_urn: str) -> dict:
    """The PATCH operations applied to `doc` in order (scim.patch), for Users and Groups alike."""
    for operation in _operations(operations):
        try:
            operation_apply(doc, op=operation.get("op", ""), path_text=operation.get("path"),
                            value=operation.get("value"), core_urn=core_urn)
        except ScimNoTarget as exc:
            raise ScimError(400, "remove needs a path.", scim_type="noTarget") from exc
    return doc


def scim_user_patch(*, tenant: Tenant, scim_id: str, operations: Any, actor: str) -> ScimUser:
    """PATCH /Users/{id} in either of Entra's dialects (scim.patch)."""
    with transaction.atomic():
        scim_user = _live_user(scim_id)
        doc = _patch_apply(copy.deepcopy(scim_user.attributes), operations, core_urn=USER_URN)
        doc = {k: v for k, v in doc.items() if k not in _READ_ONLY}
        return _user_store(tenant=tenant, scim_user=scim_user, doc=doc, actor=actor, action="scim.user_patch")


def _operations(operations: Any) -> list[dict]:
    if not isinstance(operations, list) or not operations or not all(isinstance(o, dict) for o in operations):
        raise invalid_value("A PatchOp needs a non-empty Operations list.")
    return operations


def _user_store(*, tenant: Tenant, scim_user: ScimUser, doc: dict, actor: str, action: str) -> ScimUser:
    values = _user_projection(doc)
    membership = scim_user.membership
    user = membership.user
    live = ScimUser.objects.filter(deleted_at__isnull=True).exclude(pk=scim_user.pk)
    clash = live.filter(user_name__iexact=values["user_name"]).first() or (
        values["external_id"] and live.filter(external_id=values["external_id"]).first())
    if clash:
        raise _conflict(clash, "userName or externalId")
    changes: dict[str, list] = {}
    if values["external_id"] != scim_user.external_id:
        changes["external_id"] = [scim_user.external_id, values["external_id"]]
        if membership.is_bound and membership.idp_entity_id and membership.idp_object_id != values["external_id"]:
            # A bound identity is never re-pointed by a mutable sync: that is the takeover the binding stops.
            raise ScimError(400, "externalId can't change for a person already bound to their identity provider "
                            "account.", scim_type="mutability")
        membership.idp_object_id = values["external_id"]
        membership.idp_entity_id = membership.idp_entity_id or _idp_entity_id(tenant)
        membership.bound_at = timezone.now() if values["external_id"] else None
    if values["email"] != user.username:
        if get_user_model().objects.filter(username=values["email"]).exclude(pk=user.pk).exists():
            raise ScimError(409, f"{values['email']} belongs to another Portico user.", scim_type="uniqueness")
        changes["email"] = [user.username, values["email"]]
        user.username = user.email = values["email"]
    for field in ("first_name", "last_name"):
        if values[field] and values[field] != getattr(user, field):
            changes[field] = [getattr(user, field), values[field]]
            setattr(user, field, values[field])
    user.save()
    membership.save()
    scim_user.user_name, scim_user.external_id, scim_user.attributes = values["user_name"], values["external_id"], doc
    scim_user.save()
    suspended = membership.state == Membership.State.SUSPENDED
    audit_record(actor=actor, action=action, tenant=tenant, target=user.username,
                 data={"scim_id": str(scim_user.scim_id), "changes": changes})
    if not values["active"] and not suspended:
        _suspend(tenant=tenant, scim_user=scim_user, actor=actor)
    elif values["active"] and suspended:
        _restore(tenant=tenant, scim_user=scim_user, actor=actor)
    return scim_user


def _suspend(*, tenant: Tenant, scim_user: ScimUser, actor: str) -> None:
    membership = scim_user.membership
    membership.state_before_suspension = membership.state
    membership.state = Membership.State.SUSPENDED
    membership.save(update_fields=["state", "state_before_suspension", "updated"])
    ended = sessions_end_for(user_id=membership.user_id)
    audit_record(actor=actor, action="scim.user_suspend", tenant=tenant, target=membership.user.username,
                 data={"state_before": membership.state_before_suspension, "sessions_ended": ended,
                       "access_level_kept": membership.access_level})


def _restore(*, tenant: Tenant, scim_user: ScimUser, actor: str) -> None:
    membership = scim_user.membership
    back = membership.state_before_suspension or Membership.State.WAITING_ROOM
    if back in (Membership.State.SUSPENDED, Membership.State.DEPROVISIONED):
        back = Membership.State.WAITING_ROOM
    membership.state, membership.state_before_suspension = back, ""
    membership.save(update_fields=["state", "state_before_suspension", "updated"])
    audit_record(actor=actor, action="scim.user_restore", tenant=tenant, target=membership.user.username,
                 data={"state": back, "access_level": membership.access_level})
    _access_from_groups(tenant=tenant, scim_user=scim_user, actor=actor)


def scim_user_delete(*, tenant: Tenant, scim_id: str, actor: str) -> None:
    """DELETE /Users/{id}: access removed, sessions ended, an audited tombstone kept."""
    with transaction.atomic():
        scim_user = _live_user(scim_id)
        membership = scim_user.membership
        before = {"state": membership.state, "access_level": membership.access_level,
                  "properties": sorted(membership.properties.values_list("code", flat=True))}
        membership.state, membership.state_before_suspension, membership.access_level = (
            Membership.State.DEPROVISIONED, "", "")
        membership.save(update_fields=["state", "state_before_suspension", "access_level", "updated"])
        membership.properties.clear()
        scim_user.deleted_at = timezone.now()
        scim_user.group_grant = ""
        scim_user.save(update_fields=["deleted_at", "group_grant", "updated"])
        scim_user.groups.clear()
        ended = sessions_end_for(user_id=membership.user_id)
        audit_record(actor=actor, action="scim.user_delete", tenant=tenant, target=membership.user.username,
                     data={"scim_id": str(scim_user.scim_id), "before": before, "sessions_ended": ended})


# --- Groups and the access they grant -----------------------------------------------------------

def _group_mapped_level(*, group: ScimGroup, mapping: dict) -> AccessLevel | None:
    raw = mapping.get(group.external_id) if group.external_id else None
    raw = raw if raw is not None else mapping.get(group.display_name)
    level = AccessLevel.parse(str(raw)) if raw else None
    # Capped as every grant path: only levels a tenant may hand out (never Support).
    return level if level in TENANT_GRANTABLE_LEVELS else None


def _access_from_groups(*, tenant: Tenant, scim_user: ScimUser, actor: str) -> None:
    """Give or take back the access level the person's mapped groups grant."""
    membership = scim_user.membership
    if membership.state in (Membership.State.SUSPENDED, Membership.State.DEPROVISIONED, Membership.State.DISABLED):
        return
    mapping = IdentityProvider.objects.filter(tenant=tenant).values_list("group_access_levels", flat=True).first() or {}
    levels = [_group_mapped_level(group=g, mapping=mapping) for g in scim_user.groups.all()]
    best = max((lvl for lvl in levels if lvl), key=AccessLevel.rank, default=None)
    if best is not None and not mapping_may_grant(actor=actor, access_level=best, membership=membership):
        return  # beyond what the directory may give (Support, or a member holding more): unchanged
    change: list | None = None
    if membership.state == Membership.State.WAITING_ROOM and best is not None:
        change = [membership.access_level, best.value]
        membership.state, membership.access_level = Membership.State.ACTIVE, best.value
        scim_user.group_grant = best.value
    elif membership.state == Membership.State.ACTIVE and scim_user.group_grant \
            and membership.access_level == scim_user.group_grant:
        if best is None:
            change = [membership.access_level, ""]
            membership.state, membership.access_level = Membership.State.WAITING_ROOM, ""
            scim_user.group_grant = ""
        elif best.value != membership.access_level:
            change = [membership.access_level, best.value]
            membership.access_level = scim_user.group_grant = best.value
    if change is None:
        return
    membership.save(update_fields=["state", "access_level", "updated"])
    scim_user.save(update_fields=["group_grant", "updated"])
    audit_record(actor=actor, action="scim.access_from_groups", tenant=tenant, target=membership.user.username,
                 data={"access_level": change, "state": membership.state})


def _group_doc(group: ScimGroup) -> dict:
    return {"displayName": group.display_name, "externalId": group.external_id,
            "members": [{"value": str(u.scim_id)} for u in group.members.filter(deleted_at__isnull=True)]}


def _group_store(*, tenant: Tenant, group: ScimGroup, doc: dict, actor: str, action: str) -> ScimGroup:
    from scim.filters import uuid_or_none

    name = str(doc.get("displayName") or "").strip()
    if not name:
        raise invalid_value("displayName is required.")
    external_id = str(doc.get("externalId") or "").strip()[:256]
    clash = ScimGroup.objects.filter(external_id=external_id).exclude(pk=group.pk).first() if external_id else None
    if clash:
        raise ScimError(409, "A group with this externalId exists already.", scim_type="uniqueness",
                        location=f"/scim/v2/Groups/{clash.scim_id}")
    wanted_ids = []
    for item in doc.get("members") or []:
        key = uuid_or_none(item.get("value")) if isinstance(item, dict) else None
        if key is None:
            raise invalid_value(f"Member {item!r} is not a Portico SCIM user id.")
        wanted_ids.append(key)
    wanted = list(ScimUser.objects.filter(scim_id__in=wanted_ids, deleted_at__isnull=True)
                  .select_related("membership__user"))
    if len(wanted) != len(set(wanted_ids)):
        raise invalid_value("A member is not a user of this tenant's directory sync.")
    group.display_name, group.external_id = name[:256], external_id
    group.save()
    before = set(group.members.values_list("pk", flat=True)) if group.pk else set()
    group.members.set(wanted)
    after = {u.pk for u in wanted}
    touched = ScimUser.objects.filter(pk__in=before ^ after).select_related("membership__user")
    audit_record(actor=actor, action=action, tenant=tenant, target=group.display_name,
                 data={"scim_id": str(group.scim_id), "external_id": external_id,
                       "added": sorted(u.user_name for u in touched if u.pk in after),
                       "removed": sorted(u.user_name for u in touched if u.pk in before)})
    for scim_user in touched:
        _access_from_groups(tenant=tenant, scim_user=scim_user, actor=actor)
    return group


def _live_group(scim_id: str) -> ScimGroup:
    from scim.filters import uuid_or_none

    key = uuid_or_none(scim_id)
    row = ScimGroup.objects.select_for_update().filter(scim_id=key).first() if key else None
    if row is None:
        raise not_found(f"Group {scim_id} not found.")
    return row


def scim_group_create(*, tenant: Tenant, data: Any, actor: str) -> ScimGroup:
    doc = _clean_document(data, urn=GROUP_URN)
    with transaction.atomic():
        name = str(doc.get("displayName") or "").strip()
        external_id = str(doc.get("externalId") or "").strip()
        existing = ScimGroup.objects.filter(Q(external_id=external_id) if external_id else
                                            Q(display_name__iexact=name)).first()
        if existing:
            raise ScimError(409, "This group exists already.", scim_type="uniqueness",
                            location=f"/scim/v2/Groups/{existing.scim_id}")
        return _group_store(tenant=tenant, group=ScimGroup(), doc=doc, actor=actor, action="scim.group_create")


def scim_group_replace(*, tenant: Tenant, scim_id: str, data: Any, actor: str) -> ScimGroup:
    doc = _clean_document(data, urn=GROUP_URN)
    with transaction.atomic():
        return _group_store(tenant=tenant, group=_live_group(scim_id), doc=doc, actor=actor,
                            action="scim.group_replace")


def scim_group_patch(*, tenant: Tenant, scim_id: str, operations: Any, actor: str) -> ScimGroup:
    with transaction.atomic():
        group = _live_group(scim_id)
        doc = _patch_apply(_group_doc(group), operations, core_urn=GROUP_URN)
        return _group_store(tenant=tenant, group=group, doc=doc, actor=actor, action="scim.group_patch")


def scim_group_delete(*, tenant: Tenant, scim_id: str, actor: str) -> None:
    with transaction.atomic():
        group = _live_group(scim_id)
        members = list(group.members.select_related("membership__user"))
        audit_record(actor=actor, action="scim.group_delete", tenant=tenant, target=group.display_name,
                     data={"scim_id": str(group.scim_id), "members": [u.user_name for u in members]})
        group.delete()
        for scim_user in members:
            _access_from_groups(tenant=tenant, scim_user=scim_user, actor=actor)

