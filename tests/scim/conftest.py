"""Fixtures of the directory sync tests: a Secret Token per tenant and a SCIM client speaking JSON."""
from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from tests.conftest import client_for


class ScimClient:
    """Entra's provisioning service, as far as HTTP goes: bearer token, application/scim+json."""

    def __init__(self, host: str, token: str, *, flag: bool = False) -> None:
        self.client = client_for(host)
        self.token = token
        self.query = "?aadOptscim062020" if flag else ""

    def _url(self, path: str) -> str:
        joiner = "&" if "?" in path else "?"
        return f"/scim/v2/{path}" + (f"{joiner}aadOptscim062020" if self.query else "")

    def request(self, method: str, path: str, body: object | None = None, *, token: str | None = None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token if token is not None else self.token}"}
        data = json.dumps(body) if body is not None else None
        call = getattr(self.client, method.lower())
        if data is None:
            return call(self._url(path), **headers)
        return call(self._url(path), data=data, content_type="application/scim+json", **headers)

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, body: object, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body: object, **kw):
        return self.request("PATCH", path, body, **kw)

    def put(self, path: str, body: object, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw):
        return self.request("DELETE", path, **kw)


def token_for(tenant, name: str = "Entra") -> str:
    from scim.services import scim_token_create

    with schema_context(tenant.schema_name):
        _row, secret = scim_token_create(tenant=tenant, name=name, actor="test")
    return secret


@pytest.fixture
def acme_token(acme) -> str:
    return token_for(acme)


@pytest.fixture
def globex_token(globex) -> str:
    return token_for(globex)


@pytest.fixture(params=[False, True], ids=["entra-default", "aadOptscim062020"])
def scim(request, acme, acme_token) -> ScimClient:
    """Entra against acme's Tenant URL, in each of its two PATCH dialects."""
    return ScimClient("acme.localhost", acme_token, flag=request.param)


@pytest.fixture
def scim_plain(acme, acme_token) -> ScimClient:
    return ScimClient("acme.localhost", acme_token)


def entra_user(*, user_name: str, external_id: str | None = None, given: str = "Barbara",
               family: str = "Jensen", active: bool = True) -> dict:
    """Entra's documented create-user request (Tutorial: Develop and plan provisioning for a SCIM endpoint)."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": external_id or str(uuid.uuid4()),
        "userName": user_name,
        "active": active,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"{given} {family}", "familyName": family, "givenName": given},
        "roles": [],
    }


def entra_group(*, display_name: str, external_id: str | None = None) -> dict:
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "externalId": external_id or str(uuid.uuid4()),
            "displayName": display_name, "meta": {"resourceType": "Group"}}


def patch_op(*operations: dict) -> dict:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list(operations)}


@pytest.fixture
def client_factory():
    return lambda host: Client(HTTP_HOST=host)

