"""The SCIM protocol around the sequences: errors, filters, paging, discovery, idempotent creates, limits."""
from __future__ import annotations

import uuid

from tests.provisioning.factories import unique_email
from tests.scim.conftest import ScimClient, entra_group, entra_user, token_for


def test_repeated_create_answers_409_uniqueness_with_the_existing_location(scim_plain):
    email = unique_email("twice")
    object_id = str(uuid.uuid4())
    first = scim_plain.post("Users", entra_user(user_name=email, external_id=object_id)).json()
    again = scim_plain.post("Users", entra_user(user_name=email, external_id=object_id))
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"
    assert again["Location"] == first["meta"]["location"]
    same_object = scim_plain.post("Users", entra_user(user_name=unique_email("other"), external_id=object_id))
    assert same_object.status_code == 409 and same_object["Location"] == first["meta"]["location"]


def test_filters_eq_and_and_case_insensitive_user_name(scim_plain):
    email = unique_email("filter")
    object_id = str(uuid.uuid4())
    created = scim_plain.post("Users", entra_user(user_name=email, external_id=object_id)).json()
    for text in (f'userName eq "{email.upper()}"', f'externalId eq "{object_id}"',
                 f'emails[type eq "work"].value eq "{email}"',
                 f'userName eq "{email}" and externalId eq "{object_id}"'):
        found = scim_plain.get(f"Users?filter={text}").json()
        assert [r["id"] for r in found["Resources"]] == [created["id"]], text
    assert scim_plain.get(f'Users?filter=externalId eq "{object_id.upper()}"').json()["totalResults"] == 0


def test_unsupported_filter_is_400_invalid_filter(scim_plain):
    for text in ('userName co "x"', 'userName eq "a" or userName eq "b"', "userName eq", "userName eq x"):
        response = scim_plain.get(f"Users?filter={text}")
        assert response.status_code == 400 and response.json()["scimType"] == "invalidFilter", text


def test_pagination_with_start_index_and_count(scim_plain):
    for _ in range(3):
        scim_plain.post("Groups", entra_group(display_name=f"Paging {uuid.uuid4().hex[:6]}"))
    everything = scim_plain.get("Groups").json()
    page = scim_plain.get("Groups?startIndex=2&count=1").json()
    assert page["totalResults"] == everything["totalResults"] >= 3
    assert page["startIndex"] == 2 and page["itemsPerPage"] == 1
    assert page["Resources"][0]["id"] == everything["Resources"][1]["id"]


def test_errors_are_scim_errors(scim_plain):
    missing = scim_plain.get(f"Users/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    bad_json = scim_plain.client.post("/scim/v2/Users", data="{", content_type="application/scim+json",
                                      HTTP_AUTHORIZATION=f"Bearer {scim_plain.token}")
    assert bad_json.status_code == 400 and bad_json.json()["scimType"] == "invalidSyntax"
    no_user_name = scim_plain.post("Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})
    assert no_user_name.status_code == 400 and no_user_name.json()["scimType"] == "invalidValue"
    created = scim_plain.post("Users", entra_user(user_name=unique_email("bad"))).json()
    bad_op = scim_plain.patch(f"Users/{created['id']}", {"Operations": [{"op": "Move", "path": "title"}]})
    assert bad_op.status_code == 400 and bad_op.json()["scimType"] == "invalidValue"
    bad_bool = scim_plain.patch(f"Users/{created['id']}", {"Operations": [{"op": "Replace", "path": "active",
                                                                           "value": "Maybe"}]})
    assert bad_bool.status_code == 400


def test_discovery_endpoints(scim_plain):
    config = scim_plain.get("ServiceProviderConfig").json()
    assert config["patch"]["supported"] is True and config["bulk"]["supported"] is False
    schemas = scim_plain.get("Schemas").json()
    assert {s["id"] for s in schemas["Resources"]} >= {"urn:ietf:params:scim:schemas:core:2.0:User",
                                                       "urn:ietf:params:scim:schemas:core:2.0:Group"}
    types = scim_plain.get("ResourceTypes").json()
    assert {t["endpoint"] for t in types["Resources"]} == {"/Users", "/Groups"}
    assert scim_plain.get("ResourceTypes/User").json()["schema"] == "urn:ietf:params:scim:schemas:core:2.0:User"


def test_request_larger_than_the_cap_is_413(scim_plain, settings):
    settings.PORTICO_SCIM_MAX_BODY_BYTES = 2000
    body = entra_user(user_name=unique_email("big"))
    body["title"] = "x" * 5000
    response = scim_plain.post("Users", body)
    assert response.status_code == 413 and response.json()["status"] == "413"


def test_rate_limit_per_token_is_429_with_retry_after(acme, settings):
    settings.PORTICO_SCIM_RATE_LIMIT = "3/minute"
    limited = ScimClient("acme.localhost", token_for(acme, name=f"burst-{uuid.uuid4().hex[:6]}"))
    other = ScimClient("acme.localhost", token_for(acme, name=f"calm-{uuid.uuid4().hex[:6]}"))
    statuses = [limited.get("ServiceProviderConfig").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = limited.get("ServiceProviderConfig")
    assert refused.json()["status"] == "429" and 1 <= int(refused["Retry-After"]) <= 60
    assert other.get("ServiceProviderConfig").status_code == 200  # per token, not per tenant
