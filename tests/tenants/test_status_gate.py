"""One gate for tenant status: a suspended tenant's hosts refuse everything, sessions end, reactivation restores."""
from __future__ import annotations

import base64

import pytest
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel
from tenants.models import Tenant
from tests.conftest import client_for, login_as, sso_start
from tests.provisioning.factories import member_create


def _set_status(status: str) -> None:
    from tenants.routing import routing_invalidate
    from tenants.services import tenant_status_set

    tenant_status_set(tenant=Tenant.objects.get(slug="acme"), status=status, actor="support:test")
    routing_invalidate()  # tenant_status_set does this on commit; these tests run inside one transaction


@pytest.fixture
def suspended(acme):
    _set_status(Tenant.Status.SUSPENDED)
    yield
    _set_status(Tenant.Status.ACTIVE)


def _assert_suspended_page(response) -> None:
    assert response.status_code == 403
    assert b"access to Portico is suspended" in response.content


@pytest.mark.parametrize("path", ["/", "/login/", "/sso/login/", "/sso/settings/", "/team/", "/api/me",
                                  "/setup/some-token/", "/sso/metadata/"])
def test_every_tenant_page_shows_the_suspended_page(acme, suspended, path):
    _assert_suspended_page(client_for("acme.localhost").get(path))


def test_sp_and_idp_initiated_sign_in_are_refused_while_suspended(acme, acme_idp):
    client = client_for("acme.localhost")
    _, info = sso_start(client)
    xml = acme_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="gate@acme.example",
                                  in_response_to=info.id)
    _set_status(Tenant.Status.SUSPENDED)
    try:
        posted = client.post("/sso/acs/", {"SAMLResponse": base64.b64encode(xml.encode()).decode(),
                                           "RelayState": "/", "portico_bounce": "1"})
        _assert_suspended_page(posted)
        unsolicited = acme_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="gate@acme.example")
        _assert_suspended_page(client_for("acme.localhost").post(
            "/sso/acs/", {"SAMLResponse": base64.b64encode(unsolicited.encode()).decode()}))
    finally:
        _set_status(Tenant.Status.ACTIVE)
    with schema_context("acme"):
        from django.contrib.auth import get_user_model

        assert not get_user_model().objects.filter(username="gate@acme.example").exists()


def test_an_existing_session_ends_at_its_next_request_and_reactivation_restores_sign_in(acme):
    member = member_create(access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    client = login_as(client_for("acme.localhost"), member)
    assert client.get("/api/me").status_code == 200
    _set_status(Tenant.Status.SUSPENDED)
    try:
        _assert_suspended_page(client.get("/api/me"))
    finally:
        _set_status(Tenant.Status.ACTIVE)
    # The session was ended, not merely hidden: reactivation does not bring it back.
    assert client.get("/api/me").status_code == 401
    assert client_for("acme.localhost").get("/login/").status_code == 200


def test_another_tenant_is_unaffected(acme, globex, suspended):
    assert client_for("globex.localhost").get("/login/").status_code == 200
