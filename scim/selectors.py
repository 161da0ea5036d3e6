"""Reads of directory sync: token look-up, SCIM representations, filtered and paged lists."""
from __future__ import annotations

import hmac
from typing import Any

from django.db.models import Q, QuerySet

from scim.errors import ScimError
from scim.filters import filter_q, uuid_or_none
from scim.models import ScimGroup, ScimToken, ScimUser
from tenants.models import AuditEvent, Tenant

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MAX_PAGE = 100


def scim_token_for(*, tenant: Tenant, secret: str) -> ScimToken | None:
    """This tenant's active token for `secret` (looked up by hash; run in the tenant's schema), or None.

    Raises ScimError(404) for a token minted for another tenant: it never reads or writes here.
    """
    from scim.services import TOKEN_PREFIX, scim_token_prefix

    if secret.startswith(f"{TOKEN_PREFIX}_") and not secret.startswith(scim_token_prefix(tenant=tenant)):
        raise ScimError(404, "Not found.")
    digest = ScimToken.digest(secret)
    token = ScimToken.objects.filter(token_sha256=digest, revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.token_sha256, digest):
        return None
    return token


def scim_tokens() -> list[ScimToken]:
    return list(ScimToken.objects.order_by("revoked_at", "-created"))


def scim_activity_recent(*, tenant: Tenant, limit: int = 20) -> list[AuditEvent]:
    """What directory sync changed lately, for the tenant's admins."""
    return list(AuditEvent.objects.filter(tenant=tenant, action__startswith="scim.").order_by("-created", "-id")[:limit])


def _meta(resource_type: str, scim_id: Any, created: Any, updated: Any, base_url: str) -> dict:
    return {"resourceType": resource_type, "created": created.isoformat(), "lastModified": updated.isoformat(),
            "location": f"{base_url}/{resource_type}s/{scim_id}", "version": f'W/"{int(updated.timestamp() * 1000)}"'}


def scim_user_representation(*, scim_user: ScimUser, base_url: str) -> dict:
    membership = scim_user.membership
    doc = dict(scim_user.attributes)
    doc.update({"userName": scim_user.user_name,
                "active": membership.state != membership.State.SUSPENDED})
    if scim_user.external_id:
        doc["externalId"] = scim_user.external_id
    for key in [k for k in doc if k.lower().startswith("urn:") and not doc[k]]:
        del doc[key]  # an extension whose attributes were all removed is not there any more
    extensions = [k for k in doc if k.lower().startswith("urn:") and isinstance(doc[k], dict)]
    doc["groups"] = [{"value": str(g.scim_id), "display": g.display_name, "$ref": f"{base_url}/Groups/{g.scim_id}"}
                     for g in scim_user.groups.all()]
    return {"schemas": [USER_URN, *extensions], "id": str(scim_user.scim_id), **doc,
            "meta": _meta("User", scim_user.scim_id, scim_user.created, scim_user.updated, base_url)}


def scim_group_representation(*, group: ScimGroup, base_url: str) -> dict:
    members = [{"value": str(u.scim_id), "display": u.user_name, "$ref": f"{base_url}/Users/{u.scim_id}"}
               for u in group.members.all() if u.deleted_at is None]
    body = {"schemas": [GROUP_URN], "id": str(group.scim_id), "displayName": group.display_name, "members": members,
            "meta": _meta("Group", group.scim_id, group.created, group.updated, base_url)}
    if group.external_id:
        body["externalId"] = group.external_id
    return body


def _id_q(field: str) -> Any:
    return lambda v: Q(**{field: uuid_or_none(v)}) if uuid_or_none(v) else Q(pk__in=[])


USER_FILTERS = {
    "username": lambda v: Q(user_name__iexact=str(v)),
    "externalid": lambda v: Q(external_id=str(v)),
    "id": _id_q("scim_id"),
    "emails.value": lambda v: Q(membership__user__email__iexact=str(v)),
    "emails": lambda v: Q(membership__user__email__iexact=str(v)),
    "active": lambda v: Q(membership__state="suspended") if v is False else ~Q(membership__state="suspended"),
    "displayname": lambda v: Q(attributes__displayName=v),
}
GROUP_FILTERS = {
    "displayname": lambda v: Q(display_name__iexact=str(v)),
    "externalid": lambda v: Q(external_id=str(v)),
    "id": _id_q("scim_id"),
    "members": _id_q("members__scim_id"),
    "members.value": _id_q("members__scim_id"),
}


def scim_users(*, filter_text: str | None) -> QuerySet[ScimUser]:
    rows = ScimUser.objects.filter(deleted_at__isnull=True).select_related("membership__user").prefetch_related("groups")
    return rows.filter(filter_q(filter_text, USER_FILTERS)).distinct() if filter_text else rows


def scim_groups(*, filter_text: str | None) -> QuerySet[ScimGroup]:
    rows = ScimGroup.objects.prefetch_related("members")
    return rows.filter(filter_q(filter_text, GROUP_FILTERS)).distinct() if filter_text else rows


def scim_user_get(*, scim_id: str) -> ScimUser | None:
    key = uuid_or_none(scim_id)
    return scim_users(filter_text=None).filter(scim_id=key).first() if key else None


def scim_group_get(*, scim_id: str) -> ScimGroup | None:
    key = uuid_or_none(scim_id)
    return scim_groups(filter_text=None).filter(scim_id=key).first() if key else None


def page_params(*, start_index: str | None, count: str | None) -> tuple[int, int]:
    """RFC 7644 §3.4.2.4: startIndex is 1-based (below 1 means 1), count below 0 means 0."""
    try:
        start = max(int(start_index or 1), 1)
        size = min(max(int(count if count not in (None, "") else MAX_PAGE), 0), MAX_PAGE)
    except ValueError as exc:
        raise ScimError(400, "startIndex and count must be integers.", scim_type="invalidValue") from exc
    return start, size


def list_response(*, resources: list[dict], total: int, start: int) -> dict:
    return {"schemas": [LIST_URN], "totalResults": total, "startIndex": start, "itemsPerPage": len(resources),
            "Resources": resources}
