"""Secret Tokens: per tenant, hashed, revocable, two at once; the CLI contract; the settings page section."""
from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel
from scim.models import ScimToken
from tests.provisioning.factories import member_create, unique_email
from tests.scim.conftest import ScimClient, entra_user


def test_a_token_of_one_tenant_is_404_on_another_tenant_host(acme_token, globex, acme):
    created = ScimClient("acme.localhost", acme_token).post("Users", entra_user(user_name=unique_email("iso"))).json()
    at_globex = ScimClient("globex.localhost", acme_token)
    assert at_globex.get("Users").status_code == 404
    assert at_globex.get(f"Users/{created['id']}").status_code == 404
    assert at_globex.post("Users", entra_user(user_name=unique_email("x", "globex.example"))).status_code == 404
    with schema_context("globex"):
        from scim.models import ScimUser

        assert not ScimUser.objects.exists()


def test_globex_token_never_sees_acme_users(acme_token, globex_token, acme, globex):
    ScimClient("acme.localhost", acme_token).post("Users", entra_user(user_name=unique_email("mine")))
    listed = ScimClient("globex.localhost", globex_token).get("Users").json()
    assert all(not r["userName"].endswith("@acme.example") for r in listed["Resources"])


def test_no_scim_on_the_public_host(acme_token):
    assert ScimClient("localhost", acme_token).get("Users").status_code == 404


def test_unknown_missing_or_revoked_token_is_401(acme, acme_token):
    client = ScimClient("acme.localhost", acme_token)
    assert client.get("Users", token="scim_acme_not-a-real-token").status_code == 401
    assert client.client.get("/scim/v2/Users").status_code == 401
    from scim.services import scim_token_revoke

    with schema_context("acme"):
        row = ScimToken.objects.get(token_sha256=ScimToken.digest(acme_token))
        scim_token_revoke(tenant=acme, token_id=row.pk, actor="test")
    refused = client.get("Users")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")


def test_two_tokens_work_at_once_and_only_hashes_are_stored(acme):
    from tests.scim.conftest import token_for

    old, new = token_for(acme, "old"), token_for(acme, "new")
    assert ScimClient("acme.localhost", old).get("Users").status_code == 200
    assert ScimClient("acme.localhost", new).get("Users").status_code == 200
    with schema_context("acme"):
        stored = list(ScimToken.objects.values_list("token_sha256", flat=True))
        assert old not in stored and new not in stored
        assert ScimToken.objects.get(name="new").last_used_at is not None


def test_scim_token_create_prints_the_token_alone_on_the_last_line(acme):
    out = StringIO()
    call_command("scim_token_create", "acme", "--name", "Rotation 2026", stdout=out)
    token = out.getvalue().rstrip("\n").splitlines()[-1]
    assert token.startswith("scim_acme_") and " " not in token
    assert ScimClient("acme.localhost", token).get("Users").status_code == 200
    with schema_context("acme"):
        assert ScimToken.objects.filter(name="Rotation 2026").exists()


def test_settings_page_shows_provisioning_to_client_administrators_only(acme, as_member):
    admin = member_create(access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    page = as_member(admin).get("/sso/settings/")
    text = page.content.decode()
    assert "Provisioning (SCIM)" in text and "Tenant URL" in text and "Secret Token" in text
    assert "http://acme.localhost/scim/v2/?aadOptscim062020" in text
    manager = member_create(access_level=AccessLevel.PROPERTY_MANAGER)
    client = as_member(manager)
    assert client.get("/sso/settings/").status_code == 403
    assert client.post("/sso/settings/scim/tokens/", {"name": "sneaky"}).status_code == 403
    with schema_context("acme"):
        assert not ScimToken.objects.filter(name="sneaky").exists()


def test_token_created_on_the_settings_page_is_shown_once_and_can_be_revoked(acme, as_member):
    admin = member_create(access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    client = as_member(admin)
    shown = client.post("/sso/settings/scim/tokens/", {"name": "Entra prod"})
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    import re

    secret = re.search(r'value="(scim_acme_[^"]+)"', shown.content.decode()).group(1)
    assert ScimClient("acme.localhost", secret).get("Users").status_code == 200
    page = client.get("/sso/settings/").content.decode()
    assert "Entra prod" in page and secret not in page and "scim.token_create" in page  # audited, listed
    with schema_context("acme"):
        row = ScimToken.objects.get(name="Entra prod")
    revoked = client.post(f"/sso/settings/scim/tokens/{row.pk}/revoke/")
    assert revoked.status_code == 302
    assert ScimClient("acme.localhost", secret).get("Users").status_code == 401
