"""The discovery documents of RFC 7644 §4: what this service provider supports, truthfully."""
from __future__ import annotations

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"

def service_provider_config(*, base_url: str) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/portico/portico/blob/main/docs/entra-setup.md#provisioning-scim",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        # Only `eq` joined by `and`: what Entra sends.
        "filter": {"supported": True, "maxResults": 100},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [{"type": "oauthbearertoken", "name": "Secret Token", "primary": True,
                                   "description": "The Secret Token from Portico's SSO settings page, as a bearer token."}],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/ServiceProviderConfig"},
    }

def _attr(name: str, type_: str = "string", *, multi: bool = False, required: bool = False, unique: str = "none",
          case_exact: bool = False, mutability: str = "readWrite", sub: list[dict] | None = None) -> dict:
    item = {"name": name, "type": type_, "multiValued": multi, "required": required, "caseExact": case_exact,
            "mutability": mutability, "returned": "default", "uniqueness": unique}
    if sub:
        item["subAttributes"] = sub
    return item

def _multi(name: str) -> dict:
    return _attr(name, "complex", multi=True, sub=[_attr("value"), _attr("type"), _attr("primary", "boolean"),
                                                   _attr("display")])

def schemas(*, base_url: str) -> list[dict]:
    def schema(urn: str, name: str, attributes: list[dict]) -> dict:
        return {"schemas": [SCHEMA_URN], "id": urn, "name": name, "attributes": attributes,
                "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{urn}"}}

    user = [
        _attr("userName", required=True, unique="server"),
        _attr("externalId", case_exact=True),
        _attr("name", "complex", sub=[_attr("givenName"), _attr("familyName"), _attr("formatted")]),
        _attr("displayName"), _attr("title"), _attr("preferredLanguage"), _attr("active", "boolean"),
        _multi("emails"), _multi("phoneNumbers"),
        _attr("addresses", "complex", multi=True, sub=[_attr("type"), _attr("formatted"), _attr("streetAddress"),
                                                       _attr("locality"), _attr("region"), _attr("postalCode"),
                                                       _attr("country"), _attr("primary", "boolean")]),
        _attr("groups", "complex", multi=True, mutability="readOnly", sub=[_attr("value"), _attr("display")]),
    ]
    group = [_attr("displayName", required=True), _attr("externalId", case_exact=True),
             _attr("members", "complex", multi=True, sub=[_attr("value"), _attr("display")])]
    enterprise = [_attr("employeeNumber"), _attr("department"), _attr("costCenter"), _attr("organization"),
                  _attr("division"), _attr("manager", "complex", sub=[_attr("value"), _attr("displayName")])]
    return [schema(USER_URN, "User", user), schema(GROUP_URN, "Group", group),
            schema(ENTERPRISE_URN, "EnterpriseUser", enterprise)]

def resource_types(*, base_url: str) -> list[dict]:
    rt = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
    return [
        {"schemas": [rt], "id": "User", "name": "User", "endpoint": "/Users", "schema": USER_URN,
         "schemaExtensions": [{"schema": ENTERPRISE_URN, "required": False}],
         "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/User"}},
        {"schemas": [rt], "id": "Group", "name": "Group", "endpoint": "/Groups", "schema": GROUP_URN,
         "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/Group"}},
    ]
