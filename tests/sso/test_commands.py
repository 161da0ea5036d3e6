"""`manage.py sso_configure`: the three ways to connect an IdP, the values printed for Entra, and refusals."""
from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from sso.models import IdentityProvider
from sso.sp import sp_endpoints
from tenants.models import EmailDomain
from testidp.keys import generate_keypair
from tests.sso.helpers import FIXTURES, REPO, certificate_text, configuration_state, metadata_server

NOW = datetime.now(UTC)
ENTRA_LOGIN = "https://login.microsoftonline.com/0b1c/saml2"
ENTRA_ID = "https://sts.windows.net/0b1c/"


def write(tmp_path: Path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


# --- the three ways -----------------------------------------------------------------------------------------


def test_metadata_file_configures_and_prints_the_values_for_entra_for_every_host(acme, test_idp, tmp_path, capsys):
    path = write(tmp_path, "fm.xml", test_idp.metadata_xml())
    call_command("sso_configure", "acme", "--metadata-file", path, "--allow-idp-initiated",
                 "--email-domain", "acme-group.example", "--email-domain", "acme.example")
    idp = IdentityProvider.objects.get(tenant=acme)
    assert idp.entity_id == test_idp.entity_id and idp.source == IdentityProvider.Source.UPLOAD
    assert idp.allow_idp_initiated is True
    assert set(EmailDomain.objects.filter(tenant=acme).values_list("domain", flat=True)) == {
        "acme.example", "acme-group.example"}
    # The operator vouches for the domains given on the command line: verified at once.
    assert EmailDomain.objects.get(domain="acme-group.example").verified_method == "operator"
    out = capsys.readouterr().out
    assert "Configured single sign-on for acme" in out and test_idp.entity_id in out
    for host in ("acme.localhost", "acme-staging.localhost"):
        sp = sp_endpoints(host=host)
        assert f"Identifier (Entity ID): {sp.entity_id}" in out
        assert f"Reply URL (ACS):        {sp.acs_url}" in out
        assert f"Sign on URL:            {sp.sign_on_url}" in out


@pytest.mark.parametrize(("name", "count"), [("entra-federationmetadata-common.xml", 4),
                                             ("adfs-federationmetadata.xml", 1)])
def test_real_entra_and_adfs_documents_import_unchanged_through_the_command(acme, name, count, capsys):
    call_command("sso_configure", "acme", "--metadata-file", str(FIXTURES / name))
    assert IdentityProvider.objects.get(tenant=acme).certificates.count() == count
    assert capsys.readouterr().out.count("SHA-256 ") == count


def test_metadata_url_configures_a_refreshed_idp(acme, test_idp, settings, capsys):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    with metadata_server({"/fm.xml": (200, test_idp.metadata_xml().encode())}) as base:
        call_command("sso_configure", "acme", "--metadata-url", f"{base}/fm.xml", "--display-name", "Contoso")
    idp = IdentityProvider.objects.get(tenant=acme)
    assert idp.source == IdentityProvider.Source.URL and idp.metadata_url == f"{base}/fm.xml"
    assert idp.display_name == "Contoso"
    assert "Log In with Contoso" in capsys.readouterr().out


def test_manual_entry_with_base64_and_raw_certificate_files(acme, tmp_path):
    IdentityProvider.objects.filter(tenant=acme).delete()  # first connect: the label is suggested
    current, upcoming = generate_keypair("Current"), generate_keypair("Upcoming")
    base64_file = write(tmp_path, "Portico.cer", current.cert_base64)
    raw_file = write(tmp_path, "Portico-raw.cer", base64.b64decode(upcoming.cert_base64))
    call_command("sso_configure", "acme", "--sso-url", ENTRA_LOGIN, "--idp-entity-id", ENTRA_ID,
                 "--certificate-file", base64_file, "--certificate-file", raw_file, "--disallow-idp-initiated")
    idp = IdentityProvider.objects.get(tenant=acme)
    assert (idp.source, idp.sso_url, idp.entity_id, idp.display_name) == (
        IdentityProvider.Source.MANUAL, ENTRA_LOGIN, ENTRA_ID, "Microsoft")
    assert idp.allow_idp_initiated is False
    assert idp.certificates.count() == 2


# --- refusals change nothing --------------------------------------------------------------------------------


def _refused(tenant, *args: str, match: str) -> None:
    before = configuration_state(tenant)
    with pytest.raises(CommandError, match=match):
        call_command("sso_configure", *args)
    assert configuration_state(tenant) == before


def test_unknown_tenant_is_refused(db):
    with pytest.raises(CommandError, match="No tenant 'nobody'"):
        call_command("sso_configure", "nobody", "--metadata-url", "https://x.example/fm.xml")


@pytest.mark.parametrize("args", [
    [],
    ["--metadata-file", "a.xml", "--metadata-url", "https://x.example/fm.xml"],
    ["--metadata-url", "https://x.example/fm.xml", "--sso-url", ENTRA_LOGIN],
], ids=["none", "file-and-url", "url-and-manual"])
def test_exactly_one_way_must_be_given(acme, args):
    _refused(acme, "acme", *args, match="Give exactly one of --metadata-file, --metadata-url or --sso-url")


def test_manual_entry_needs_the_entity_id_and_a_certificate(acme, tmp_path):
    _refused(acme, "acme", "--sso-url", ENTRA_LOGIN, "--idp-entity-id", ENTRA_ID,
             match="--sso-url needs --idp-entity-id and at least one --certificate-file")
    _refused(acme, "acme", "--metadata-url", "https://x.example/fm.xml", "--idp-entity-id", ENTRA_ID,
             match="go with --sso-url only")


@pytest.mark.parametrize(("data", "message"), [
    ("<html>Sign in</html>", "metadata: This file is not SAML metadata"),
    ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
     "metadata: The metadata contains a DOCTYPE declaration, which Portico refuses for security reasons"),
], ids=["not-metadata", "doctype"])
def test_invalid_metadata_file_is_refused_with_the_reason(acme, tmp_path, data, message):
    _refused(acme, "acme", "--metadata-file", write(tmp_path, "fm.xml", data), "--email-domain", "new.example",
             match=f"{message}.*Nothing was changed")


def test_a_missing_metadata_file_is_refused(acme, tmp_path):
    _refused(acme, "acme", "--metadata-file", str(tmp_path / "nope.xml"), match="cannot read the metadata file")


@pytest.mark.parametrize(("certificate", "message"), [
    ("garbage garbage", "The certificate is not a valid X.509 certificate"),
    ("PRIVATE_KEY", "This is a private key, not a certificate"),
    ("EXPIRED", "The certificate expired on"),
], ids=["garbage", "private-key", "expired"])
def test_a_bad_certificate_file_is_refused_with_the_reason(acme, tmp_path, certificate, message):
    _refused(acme, "acme", "--sso-url", ENTRA_LOGIN, "--idp-entity-id", ENTRA_ID,
             "--certificate-file", write(tmp_path, "cert.cer", certificate_text(certificate)), match=message)


def test_a_metadata_url_that_does_not_answer_is_refused(acme, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True
    with metadata_server({}) as base:
        _refused(acme, "acme", "--metadata-url", f"{base}/fm.xml",
                 match="--metadata-url: The metadata URL answered HTTP 404")


def test_a_loopback_metadata_url_is_refused(acme, settings):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = False
    _refused(acme, "acme", "--metadata-url", "https://127.0.0.1:9/fm.xml", match="private or loopback address")


def test_an_email_domain_of_another_tenant_is_refused(acme, globex, test_idp, tmp_path):
    _refused(acme, "acme", "--metadata-file", write(tmp_path, "fm.xml", test_idp.metadata_xml()),
             "--email-domain", "acme-new.example", "--email-domain", "globex.example",
             match="--email-domain: Email domain globex.example already signs in through another organisation on Portico")


def test_a_bad_display_name_is_refused_before_anything_is_saved(acme, test_idp, tmp_path):
    _refused(acme, "acme", "--metadata-file", write(tmp_path, "fm.xml", test_idp.metadata_xml()),
             "--display-name", "x" * 101, match="--display-name must be 1 to 100 characters")


def test_command_exits_non_zero_with_the_message_on_stderr(acme, tmp_path):
    import subprocess
    import sys

    from tests.conftest import worker_env

    result = subprocess.run(
        [sys.executable, "manage.py", "sso_configure", "acme", "--metadata-file", write(tmp_path, "x.xml", "<x/>")],
        cwd=REPO, env=worker_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "This file is not SAML metadata" in result.stderr and "Nothing was changed" in result.stderr


def test_sso_configure_verifies_an_email_domain_another_tenant_only_claimed(acme, globex, test_idp, tmp_path):
    from tenants.models import AuditEvent
    from tenants.services import tenant_email_domains_add

    (claim,) = tenant_email_domains_add(tenant=globex, domains=["acme-cli.example"], actor="test")
    call_command("sso_configure", "acme", "--metadata-file", write(tmp_path, "fm.xml", test_idp.metadata_xml()),
                 "--email-domain", "acme-cli.example")
    assert EmailDomain.objects.get(domain="acme-cli.example").tenant == acme
    assert not EmailDomain.objects.filter(pk=claim.pk).exists()
    assert AuditEvent.objects.filter(tenant=globex, action="tenant.email_domain_claim_remove", actor="cli").exists()


# --- --draft and --activate-draft --------------------------------------------------------------------------


def test_draft_saves_a_draft_and_leaves_the_live_connection_alone(acme, test_idp, tmp_path, capsys):
    from sso.models import StagedConnection

    before = configuration_state(acme)
    path = write(tmp_path, "fm.xml", test_idp.metadata_xml())
    call_command("sso_configure", "acme", "--metadata-file", path, "--draft")
    assert configuration_state(acme) == before
    draft = StagedConnection.objects.get(tenant=acme, kind="draft")
    assert draft.entity_id == test_idp.entity_id and draft.saved_by == "cli"
    out = capsys.readouterr().out
    assert "Saved a draft connection for acme" in out and "the live connection is unchanged" in out


def test_draft_prints_the_warnings_instead_of_asking(acme, capsys):
    call_command("sso_configure", "acme", "--metadata-file", str(FIXTURES / "entra-federationmetadata-common.xml"),
                 "--draft")
    out = capsys.readouterr().out
    assert "warning: The Identifier https://sts.windows.net/{tenantid}/ contains the placeholder" in out


def test_activate_draft_applies_an_untested_draft_for_operators(acme, test_idp, tmp_path, capsys):
    from sso.models import StagedConnection
    from tenants.models import AuditEvent

    old = IdentityProvider.objects.get(tenant=acme).entity_id
    call_command("sso_configure", "acme", "--metadata-file", write(tmp_path, "fm.xml", test_idp.metadata_xml()),
                 "--draft")
    call_command("sso_configure", "acme", "--activate-draft")
    assert IdentityProvider.objects.get(tenant=acme).entity_id == test_idp.entity_id
    assert StagedConnection.objects.get(tenant=acme, kind="previous").entity_id == old
    assert AuditEvent.objects.get(tenant=acme, action="sso.idp_activate").data["untested"] is True
    assert "Activated the draft connection of acme" in capsys.readouterr().out


def test_activate_draft_without_a_draft_changes_nothing(acme):
    before = configuration_state(acme)
    with pytest.raises(CommandError, match="There is no draft connection to activate. Nothing was changed."):
        call_command("sso_configure", "acme", "--activate-draft")
    with pytest.raises(CommandError, match="--activate-draft takes no other option"):
        call_command("sso_configure", "acme", "--activate-draft", "--email-domain", "x.example")
    assert configuration_state(acme) == before


def test_the_command_still_applies_directly_and_keeps_the_previous_connection_for_roll_back(acme, test_idp, tmp_path):
    from sso.models import StagedConnection

    old = IdentityProvider.objects.get(tenant=acme).entity_id
    call_command("sso_configure", "acme", "--metadata-file", write(tmp_path, "fm.xml", test_idp.metadata_xml()))
    assert IdentityProvider.objects.get(tenant=acme).entity_id == test_idp.entity_id
    assert StagedConnection.objects.get(tenant=acme, kind="previous").entity_id == old
