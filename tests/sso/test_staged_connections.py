"""Staged connections: a draft next to the live IdP connection, tested against itself, activated,
rolled back, with a history; the warnings shown before saving. Real signed responses from testidp."""
from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership
from sso.errors import SsoConfigError, SsoConfigNeedsConfirm
from sso.metadata import certificate_parse
from sso.models import IdentityProvider, SignInAttempt, StagedConnection
from sso.selectors import connection_history
from sso.services import (
    connection_warnings,
    idp_draft_activate,
    idp_draft_from_metadata,
    idp_draft_manual,
    idp_options_update,
    idp_rollback,
)
from sso.types import ConnectionWarningCode
from tenants.models import AuditEvent
from testidp.idp import TestIdP
from testidp.keys import generate_keypair
from tests.conftest import client_for, login_as, sso_start
from tests.sso.helpers import FIXTURES

SETTINGS = "/sso/settings/"


# --- helpers ---------------------------------------------------------------------------------------------


def _admin(tenant: str = "acme"):
    email = f"ca-{uuid.uuid4().hex[:8]}@{tenant}.example"
    with schema_context(tenant):
        user = get_user_model().objects.create_user(username=email, email=email)
        Membership.objects.create(user=user, state=Membership.State.ACTIVE,
                                  access_level=AccessLevel.CLIENT_ADMINISTRATOR)
    client = client_for(f"{tenant}.localhost")
    login_as(client, user, tenant)
    return user, client


@pytest.fixture
def draft_idp() -> TestIdP:
    """Another IdP (its own key and entity ID) the tenant is moving to."""
    return TestIdP("https://draft-idp.example")


def _save_draft(tenant, idp: TestIdP, actor="test") -> StagedConnection:
    return idp_draft_from_metadata(tenant=tenant, document=idp.metadata_xml(), actor=actor, confirm=True)


def _start_draft_test(client: Client):
    """GET /sso/login/?test=draft; returns (Location, AuthnRequestInfo)."""
    response = client.get(f"/sso/login/?test=draft&next={SETTINGS}")
    assert response.status_code == 302, response.content[:300]
    params = parse_qs(urlsplit(response["Location"]).query)
    return response["Location"], TestIdP("http://parser.invalid").parse_authn_request(
        params["SAMLRequest"][0], params.get("RelayState", [None])[0])


def _post(client: Client, xml: str):
    return client.post("/sso/acs/", {"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": "/"})


def _answer(idp: TestIdP, info, email: str, **kwargs) -> str:
    return idp.build_response(acs_url=info.acs_url, audience=info.issuer, email=email, in_response_to=info.id,
                              **kwargs)


def _reference(response) -> str:
    assert response.status_code == 302 and response["Location"].startswith("/sso/test/"), response.content[:300]
    return response["Location"].rstrip("/").rsplit("/", 1)[1]


def _signed_in_through(client: Client, idp: TestIdP, email: str):
    _, info = sso_start(client)
    return _post(client, _answer(idp, info, email))


def _pass_draft_test(client: Client, idp: TestIdP, email: str) -> str:
    _, info = _start_draft_test(client)
    return _reference(_post(client, _answer(idp, info, email)))


# --- testing the draft --------------------------------------------------------------------------------------


def test_a_test_sign_in_against_the_draft_succeeds_while_the_live_connection_serves_everyone_else(
        acme, acme_idp, draft_idp):
    live_entity = IdentityProvider.objects.get(tenant=acme).entity_id
    draft = _save_draft(acme, draft_idp)
    _, admin_client = _admin()
    location, info = _start_draft_test(admin_client)
    assert location.startswith(draft_idp.sso_url)  # the AuthnRequest goes to the draft's IdP

    # Meanwhile someone else signs in through the live connection, as before: the draft's cached
    # pysaml2 config is its own, the live one still builds requests to the live IdP.
    other = client_for("acme.localhost")
    assert other.get("/sso/login/")["Location"].startswith(acme_idp.sso_url)
    assert _signed_in_through(other, acme_idp, "rosa@acme.example").status_code == 302
    assert other.get("/api/me").json()["email"] == "rosa@acme.example"

    reference = _reference(_post(admin_client, _answer(draft_idp, info, "dana@acme.example")))
    attempt = SignInAttempt.objects.get(reference=reference)
    assert attempt.outcome == "success" and attempt.is_test and attempt.issuer == draft_idp.entity_id
    draft.refresh_from_db()
    assert draft.tested and draft.tested_reference == reference
    assert IdentityProvider.objects.get(tenant=acme).entity_id == live_entity  # nothing went live
    with schema_context("acme"):
        assert not get_user_model().objects.filter(email="dana@acme.example").exists()


def test_a_test_sign_in_against_the_draft_refuses_a_response_signed_by_the_live_key(acme, acme_idp, draft_idp):
    draft = _save_draft(acme, draft_idp)
    _, admin_client = _admin()
    _, info = _start_draft_test(admin_client)
    reference = _reference(_post(admin_client, _answer(acme_idp, info, "dana@acme.example",
                                                       issuer=draft_idp.entity_id)))
    assert SignInAttempt.objects.get(reference=reference).code == "certificate_mismatch"
    draft.refresh_from_db()
    assert not draft.tested


def test_a_normal_sign_in_signed_by_the_drafts_key_is_refused_while_it_is_only_a_draft(acme, draft_idp):
    _save_draft(acme, draft_idp)
    client = client_for("acme.localhost")
    response = _signed_in_through(client, draft_idp, "mallory@acme.example")
    assert response.status_code == 403 or 400 <= response.status_code < 500
    assert client.get("/api/me").status_code == 401
    attempt = SignInAttempt.objects.order_by("-created", "-id").first()
    assert attempt.outcome == "failure" and not attempt.is_test and attempt.code == "certificate_mismatch"
    # Nor does a live test request accept the draft's signature: only test=draft selects the draft.
    _, admin_client = _admin()
    _, info = sso_start(admin_client, SETTINGS, test=True)
    reference = _reference(_post(admin_client, _answer(draft_idp, info, "dana@acme.example")))
    assert SignInAttempt.objects.get(reference=reference).code == "certificate_mismatch"


def test_a_test_started_against_an_older_version_of_the_draft_does_not_count(acme, draft_idp):
    _save_draft(acme, draft_idp)
    _, admin_client = _admin()
    _, info = _start_draft_test(admin_client)
    draft = _save_draft(acme, draft_idp)  # saved again meanwhile: a new version
    reference = _reference(_post(admin_client, _answer(draft_idp, info, "dana@acme.example")))
    attempt = SignInAttempt.objects.get(reference=reference)
    assert attempt.code == "unknown_request" and "has been changed since" in attempt.message
    draft.refresh_from_db()
    assert not draft.tested


def test_the_test_result_shows_the_claims_the_access_level_and_the_identity_it_would_bind(
        acme, draft_idp):
    idp_options_update(idp=IdentityProvider.objects.get(tenant=acme), actor="test",
                       group_access_levels={"grp-tech": "technician"})
    _save_draft(acme, draft_idp)
    _, admin_client = _admin()
    _, info = _start_draft_test(admin_client)
    reference = _reference(_post(admin_client, _answer(draft_idp, info, "nina@acme.example", first_name="Nina",
                                                       last_name="Okafor", groups=["grp-tech", "grp-other"])))
    page = admin_client.get(f"/sso/test/{reference}/").content.decode()
    claims_table = page.split('id="claims"', 1)[1].split("</section>", 1)[0]
    object_id = SignInAttempt.objects.get(reference=reference).test_claims["object_id"]
    for text in ("nina@acme.example", "Nina", "Okafor", object_id, "grp-tech", "→ Technician", "grp-other",
                 "not mapped"):
        assert text in claims_table, text
    binding = re.search(r'data-testid="binding">(.*?)</dd>', claims_table, re.S).group(1)
    assert "A new person, nina@acme.example" in binding and object_id in binding
    assert "Technician" in re.search(r'data-testid="access-level">(.*?)</dd>', claims_table, re.S).group(1)
    # Then the decoded response, after the table.
    assert page.index('id="claims"') < page.index('data-testid="saml-xml"')
    assert "Activate the draft" in page  # this test passed the draft as it stands


# --- activate, roll back, history ------------------------------------------------------------------------------


def test_activate_needs_a_passing_test_of_that_draft(acme, draft_idp):
    _save_draft(acme, draft_idp)
    with pytest.raises(SsoConfigError, match="Run Test sign-in on the draft first"):
        idp_draft_activate(tenant=acme, actor="test")
    _, admin_client = _admin()
    response = admin_client.post(SETTINGS, {"action": "activate"})
    assert response.status_code == 302
    assert IdentityProvider.objects.get(tenant=acme).entity_id != draft_idp.entity_id
    assert "Run Test sign-in on the draft first" in admin_client.get(SETTINGS).content.decode()


def test_activate_makes_the_draft_live_and_keeps_the_previous_connection(acme, acme_idp, draft_idp):
    old_entity = IdentityProvider.objects.get(tenant=acme).entity_id
    _save_draft(acme, draft_idp)
    admin, admin_client = _admin()
    _pass_draft_test(admin_client, draft_idp, admin.email)
    response = admin_client.post(SETTINGS, {"action": "activate"})
    assert response.status_code == 302
    live = IdentityProvider.objects.get(tenant=acme)
    assert live.entity_id == draft_idp.entity_id and live.sso_url == draft_idp.sso_url
    assert not StagedConnection.objects.filter(tenant=acme, kind="draft").exists()
    assert StagedConnection.objects.get(tenant=acme, kind="previous").entity_id == old_entity
    # Sign-ins now go through the new IdP (the cached config follows) and the old key is refused.
    client = client_for("acme.localhost")
    assert client.get("/sso/login/")["Location"].startswith(draft_idp.sso_url)
    assert _signed_in_through(client, draft_idp, "rosa@acme.example").status_code == 302
    refused = client_for("acme.localhost")
    assert _signed_in_through(refused, acme_idp, "rosa@acme.example").status_code >= 400
    event = AuditEvent.objects.get(tenant=acme, action="sso.idp_activate")
    assert admin.email in event.actor
    assert event.data["changes"]["identifier"] == [old_entity, draft_idp.entity_id]


def test_roll_back_restores_the_previous_connection_in_one_click_and_undoes_itself(acme, acme_idp, draft_idp):
    old_entity = IdentityProvider.objects.get(tenant=acme).entity_id
    _save_draft(acme, draft_idp)
    admin, admin_client = _admin()
    _pass_draft_test(admin_client, draft_idp, admin.email)
    admin_client.post(SETTINGS, {"action": "activate"})
    assert "Roll back" in admin_client.get(SETTINGS).content.decode()

    assert admin_client.post(SETTINGS, {"action": "rollback"}).status_code == 302
    assert IdentityProvider.objects.get(tenant=acme).entity_id == old_entity
    assert StagedConnection.objects.get(tenant=acme, kind="previous").entity_id == draft_idp.entity_id
    client = client_for("acme.localhost")
    assert _signed_in_through(client, acme_idp, "rosa@acme.example").status_code == 302
    idp_rollback(tenant=acme, actor="test")  # and back again
    assert IdentityProvider.objects.get(tenant=acme).entity_id == draft_idp.entity_id


def test_history_lists_each_change_with_who_when_and_what_changed(acme, draft_idp):
    old = IdentityProvider.objects.get(tenant=acme)
    old_sha1 = [certificate_parse(c.pem).sha1_thumbprint for c in old.certificates.all()]
    admin, admin_client = _admin()
    _save_draft(acme, draft_idp, actor=admin)
    _pass_draft_test(admin_client, draft_idp, admin.email)
    idp_draft_activate(tenant=acme, actor=admin)
    idp_rollback(tenant=acme, actor=admin)
    history = connection_history(tenant=acme)
    assert [h.what for h in history[:3]] == ["Identity provider connection rolled back",
                                             "Draft identity provider connection activated",
                                             "Draft identity provider connection saved"]
    assert all(h.who == admin.email for h in history[:3])
    rollback = dict((label, (old_value, new)) for label, old_value, new in history[0].changes)
    assert rollback["Identifier"] == (draft_idp.entity_id, old.entity_id)
    assert rollback["Login URL"] == (draft_idp.sso_url, old.sso_url)
    assert rollback["Certificate thumbprints"][1] == ", ".join(sorted(old_sha1))  # shown as Entra's SHA-1 thumbprints
    page = admin_client.get(SETTINGS).content.decode()
    table = page.split('id="connection-history"', 1)[1].split("</table>", 1)[0]
    assert "Identity provider connection rolled back" in table and draft_idp.entity_id in table
    # The tenant's audit log words the same rows.
    log = admin_client.get("/account/audit-log/").content.decode()
    assert f"Identifier: {draft_idp.entity_id} → {old.entity_id}" in log


def test_the_first_connection_of_a_tenant_activates_directly_after_a_successful_test(acme, draft_idp):
    IdentityProvider.objects.filter(tenant=acme).delete()
    _save_draft(acme, draft_idp)
    admin, admin_client = _admin()
    reference = _pass_draft_test(admin_client, draft_idp, admin.email)
    page = admin_client.get(f"/sso/test/{reference}/").content.decode()
    assert "activate it and your people can sign in through it" in page
    assert admin_client.post(SETTINGS, {"action": "activate"}).status_code == 302
    live = IdentityProvider.objects.get(tenant=acme)
    assert live.entity_id == draft_idp.entity_id
    assert not StagedConnection.objects.filter(tenant=acme).exists()  # nothing to roll back to
    with pytest.raises(SsoConfigError):
        idp_rollback(tenant=acme, actor="test")


def test_a_draft_keeps_the_admins_button_label(acme, draft_idp):
    idp_options_update(idp=IdentityProvider.objects.get(tenant=acme), actor="test", display_name="Acme Staff")
    draft = _save_draft(acme, draft_idp)
    assert draft.display_name == "Acme Staff"
    idp_draft_activate(tenant=acme, actor="cli", untested=True)
    assert IdentityProvider.objects.get(tenant=acme).display_name == "Acme Staff"


# --- warnings before saving ------------------------------------------------------------------------------------


def _manual(tenant, *, sso_url="https://login.microsoftonline.com/7d1c/saml2",
            entity_id="https://sts.windows.net/7d1c/", cert=None, confirm=False):
    cert = cert or generate_keypair("Entra").cert_pem
    return idp_draft_manual(tenant=tenant, sso_url=sso_url, entity_id=entity_id, certificates=[cert], actor="test",
                            confirm=confirm)


def _codes(exc_info) -> set[str]:
    return {str(w.code) for w in exc_info.value.warnings}


def test_a_placeholder_entity_id_needs_a_confirm(acme):
    with pytest.raises(SsoConfigNeedsConfirm) as exc_info:
        _manual(acme, entity_id="https://sts.windows.net/{tenantid}/")
    assert _codes(exc_info) == {ConnectionWarningCode.placeholder_entity_id}
    assert not StagedConnection.objects.filter(tenant=acme).exists()
    draft = _manual(acme, entity_id="https://sts.windows.net/{tenantid}/", confirm=True)
    assert [w["code"] for w in draft.warnings] == ["placeholder_entity_id"]


def test_an_entra_common_endpoint_needs_a_confirm(acme):
    with pytest.raises(SsoConfigNeedsConfirm) as exc_info:
        _manual(acme, sso_url="https://login.microsoftonline.com/common/saml2")
    assert _codes(exc_info) == {ConnectionWarningCode.multi_tenant_document}


def test_the_entra_common_document_is_warned_about_on_the_page_and_saved_only_once_confirmed(acme):
    from django.core.files.uploadedfile import SimpleUploadedFile

    _, admin_client = _admin()
    data = (FIXTURES / "entra-federationmetadata-common.xml").read_bytes()
    response = admin_client.post(SETTINGS, {"action": "upload",
                                            "upload-metadata_file": SimpleUploadedFile("fm.xml", data)})
    page = response.content.decode()
    assert response.status_code == 200 and "Check before saving" in page
    assert "placeholder {tenantid}" in page and "multi-tenant &quot;common&quot; endpoint" in page
    assert not StagedConnection.objects.filter(tenant=acme).exists()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    assert admin_client.post(SETTINGS, {"action": "confirm_draft", "token": "forged"}).status_code == 302
    assert not StagedConnection.objects.filter(tenant=acme).exists()  # a wrong token saves nothing
    # The forged attempt spent the pending input; saving again asks again.
    response = admin_client.post(SETTINGS, {"action": "upload",
                                            "upload-metadata_file": SimpleUploadedFile("fm.xml", data)})
    token = re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)
    assert admin_client.post(SETTINGS, {"action": "confirm_draft", "token": token}).status_code == 302
    assert StagedConnection.objects.get(tenant=acme, kind="draft").entity_id == "https://sts.windows.net/{tenantid}/"


def test_a_plain_http_login_url_needs_a_confirm_where_http_is_not_allowed(acme, settings):
    idp = TestIdP("http://plain.example")
    settings.PORTICO_METADATA_ALLOW_PRIVATE = False
    with pytest.raises(SsoConfigNeedsConfirm) as exc_info:
        idp_draft_from_metadata(tenant=acme, document=idp.metadata_xml(), actor="test")
    assert _codes(exc_info) == {ConnectionWarningCode.plain_http}
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True  # development: said, not asked
    draft = idp_draft_from_metadata(tenant=acme, document=idp.metadata_xml(), actor="test")
    assert [w["code"] for w in draft.warnings] == ["plain_http"]


def test_a_certificate_near_expiry_is_warned_about_without_blocking(acme, settings):
    now = datetime.now(UTC)
    soon = generate_keypair("Soon", valid_from=now - timedelta(days=300),
                            valid_until=now + timedelta(days=settings.PORTICO_CERT_EXPIRY_WARNING_DAYS - 5))
    draft = _manual(acme, cert=soon.cert_pem)
    assert [w["code"] for w in draft.warnings] == ["certificate_expiring"]
    later = generate_keypair("Later")
    assert connection_warnings(entity_id="https://sts.windows.net/7d1c/", sso_url="https://login.example/saml2",
                               certificates=[]) == []
    assert _manual(acme, cert=later.cert_pem).warnings == []


def test_an_ordinary_entra_connection_raises_no_warning(acme):
    assert _manual(acme).warnings == []


def test_discarding_the_draft_leaves_the_live_connection_and_says_so_in_the_history(acme, draft_idp):
    live_before = IdentityProvider.objects.get(tenant=acme).entity_id
    _save_draft(acme, draft_idp)
    admin, admin_client = _admin()
    response = admin_client.post(SETTINGS, {"action": "draft_discard"})
    assert response.status_code == 302
    assert not StagedConnection.objects.filter(tenant=acme, kind="draft").exists()
    assert IdentityProvider.objects.get(tenant=acme).entity_id == live_before
    assert AuditEvent.objects.filter(tenant=acme, action="sso.draft_discard", actor__contains=admin.email).exists()
    assert "Draft discarded. The live connection is unchanged." in admin_client.get(SETTINGS).content.decode()
    # A test link to the discarded draft says so instead of testing something else.
    assert admin_client.get("/sso/login/?test=draft")["Location"] == "/sso/settings/"
