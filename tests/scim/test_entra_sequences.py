"""Entra's documented provisioning request sequences, replayed in both PATCH dialects against the real
server (tenant host, real PostgreSQL schema): create, update attributes, disable, enable, group
membership add/remove, delete. Shapes from Microsoft's "Tutorial: Develop and plan provisioning for a
SCIM endpoint in Microsoft Entra ID" and "Known issues and resolutions with SCIM 2.0 protocol compliance"."""
from __future__ import annotations

import uuid

from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership
from sso.models import IdentityProvider
from tenants.models import AuditEvent
from tests.provisioning.factories import membership_find, unique_email
from tests.scim.conftest import entra_group, entra_user, patch_op


def _op(scim, name: str) -> str:
    """Entra capitalises op names unless the Tenant URL carries ?aadOptscim062020."""
    return name.lower() if scim.query else name.capitalize()


def _bool(scim, value: bool):
    """...and sends booleans as the strings "True"/"False" without the flag."""
    return value if scim.query else str(value)


def _create(scim, email: str | None = None, **kw) -> dict:
    email = email or unique_email("bjensen")
    assert scim.get(f'Users?filter=userName eq "{email}"').json()["totalResults"] == 0
    response = scim.post("Users", entra_user(user_name=email, **kw))
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/scim+json"
    return response.json()


def test_test_connection_finds_nothing_with_200_and_an_empty_list(scim):
    response = scim.get(f'Users?filter=userName eq "{uuid.uuid4()}"')
    assert response.status_code == 200
    assert response.json() == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0,
                               "startIndex": 1, "itemsPerPage": 0, "Resources": []}


def test_create_user_makes_a_known_person_bound_by_external_id_in_the_waiting_room(scim, acme):
    object_id = str(uuid.uuid4())
    body = _create(scim, external_id=object_id)
    assert body["externalId"] == object_id and body["active"] is True
    assert body["meta"]["location"].endswith(f"/scim/v2/Users/{body['id']}")
    member = membership_find(body["userName"])
    assert member.state == Membership.State.WAITING_ROOM and member.access_level == ""
    assert member.origin == Membership.Origin.SCIM
    idp = IdentityProvider.objects.get(tenant=acme)
    assert (member.idp_entity_id, member.idp_object_id) == (idp.entity_id, object_id)
    assert member.user.first_name == "Barbara" and member.user.last_name == "Jensen"
    found = scim.get(f'Users?filter=externalId eq "{object_id}"').json()
    assert [r["id"] for r in found["Resources"]] == [body["id"]]


def test_update_attributes_with_filtered_paths(scim):
    body = _create(scim)
    new_email = unique_email("barbara")
    response = scim.patch(f"Users/{body['id']}", patch_op(
        {"op": _op(scim, "replace"), "path": 'emails[type eq "work"].value', "value": new_email},
        {"op": _op(scim, "replace"), "path": "name.familyName", "value": "Jensen-Smith"},
        {"op": _op(scim, "add"), "path": 'addresses[type eq "work"].formatted', "value": "1 Harbour Road"},
        {"op": _op(scim, "add"), "path": "title", "value": "Site lead"},
        {"op": _op(scim, "replace"), "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
         "value": "701984"},
    ))
    assert response.status_code == 200, response.content
    updated = response.json()
    assert updated["emails"][0]["value"] == new_email
    assert updated["name"]["familyName"] == "Jensen-Smith"
    assert updated["addresses"] == [{"type": "work", "formatted": "1 Harbour Road"}]
    assert updated["title"] == "Site lead"
    assert updated["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"] == "701984"
    member = membership_find(new_email)
    assert member is not None and member.user.last_name == "Jensen-Smith"


def test_path_less_add_with_an_attribute_map_as_sent_with_the_flag(scim):
    body = _create(scim)
    response = scim.patch(f"Users/{body['id']}", patch_op(
        {"op": _op(scim, "add"), "value": {"nickName": "Babs", "name.givenName": "Barb"}}))
    assert response.status_code == 200, response.content
    assert response.json()["nickName"] == "Babs" and response.json()["name"]["givenName"] == "Barb"


def test_disable_suspends_and_enable_restores_access_kept_meanwhile(scim, acme):
    body = _create(scim)
    with schema_context("acme"):
        Membership.objects.filter(user__username=body["userName"]).update(
            state=Membership.State.ACTIVE, access_level=AccessLevel.PROPERTY_MANAGER)
    off = scim.patch(f"Users/{body['id']}", patch_op({"op": _op(scim, "replace"), "path": "active",
                                                     "value": _bool(scim, False)}))
    assert off.status_code == 200 and off.json()["active"] is False
    member = membership_find(body["userName"])
    assert member.state == Membership.State.SUSPENDED and member.access_level == AccessLevel.PROPERTY_MANAGER
    on = scim.patch(f"Users/{body['id']}", patch_op({"op": _op(scim, "replace"), "path": "active",
                                                    "value": _bool(scim, True)}))
    assert on.status_code == 200 and on.json()["active"] is True
    member = membership_find(body["userName"])
    assert member.state == Membership.State.ACTIVE and member.access_level == AccessLevel.PROPERTY_MANAGER
    actions = list(AuditEvent.objects.filter(tenant=acme, target=body["userName"]).values_list("actor", "action"))
    assert ("scim:Entra", "scim.user_suspend") in actions and ("scim:Entra", "scim.user_restore") in actions


def test_group_membership_add_and_remove_grants_and_takes_back_the_mapped_access_level(scim, acme):
    user = _create(scim)
    object_id = str(uuid.uuid4())
    IdentityProvider.objects.filter(tenant=acme).update(group_access_levels={object_id: "technician"})
    created = scim.post("Groups", entra_group(display_name="Harbour technicians", external_id=object_id))
    assert created.status_code == 201, created.content
    group_id = created.json()["id"]
    found = scim.get('Groups?excludedAttributes=members&filter=displayName eq "Harbour technicians"').json()
    assert found["totalResults"] == 1 and "members" not in found["Resources"][0]

    added = scim.patch(f"Groups/{group_id}", patch_op(
        {"op": _op(scim, "add"), "path": "members", "value": [{"value": user["id"]}]}))
    assert added.status_code == 204, added.content
    member = membership_find(user["userName"])
    assert member.state == Membership.State.ACTIVE and member.access_level == AccessLevel.TECHNICIAN
    check = scim.get(f'Groups?excludedAttributes=members&filter=id eq "{group_id}" and members eq "{user["id"]}"')
    assert check.json()["totalResults"] == 1

    if scim.query:  # RFC 7644 shape, with the flag
        removal = {"op": "remove", "path": f'members[value eq "{user["id"]}"]'}
    else:  # Entra's default: a value list
        removal = {"op": "Remove", "path": "members", "value": [{"value": user["id"]}]}
    removed = scim.patch(f"Groups/{group_id}", patch_op(removal))
    assert removed.status_code == 204, removed.content
    member = membership_find(user["userName"])
    assert member.state == Membership.State.WAITING_ROOM and member.access_level == ""
    assert scim.get(f'Groups?filter=id eq "{group_id}" and members eq "{user["id"]}"').json()["totalResults"] == 0


def test_delete_removes_access_and_keeps_an_audited_tombstone(scim, acme):
    body = _create(scim)
    with schema_context("acme"):
        membership = Membership.objects.get(user__username=body["userName"])
        membership.state, membership.access_level = Membership.State.ACTIVE, AccessLevel.CLIENT_ADMINISTRATOR
        membership.save()
    response = scim.delete(f"Users/{body['id']}")
    assert response.status_code == 204
    assert scim.get(f"Users/{body['id']}").status_code == 404
    assert scim.get(f'Users?filter=userName eq "{body["userName"]}"').json()["totalResults"] == 0
    member = membership_find(body["userName"])
    assert member.state == Membership.State.DEPROVISIONED and member.access_level == ""
    event = AuditEvent.objects.get(tenant=acme, action="scim.user_delete", target=body["userName"])
    assert event.actor == "scim:Entra" and event.data["before"]["access_level"] == "client-administrator"


def test_a_deleted_person_provisioned_again_is_known_again_without_the_old_access(scim_plain):
    email, object_id = unique_email("again"), str(uuid.uuid4())
    first = _create(scim_plain, email, external_id=object_id)
    scim_plain.delete(f"Users/{first['id']}")
    someone_else = scim_plain.post("Users", entra_user(user_name=email, external_id=str(uuid.uuid4())))
    assert someone_else.status_code == 409  # the address is bound to the deleted person's identity, not merged
    second = _create(scim_plain, email, external_id=object_id)
    assert second["id"] != first["id"]
    assert membership_find(email).state == Membership.State.WAITING_ROOM
