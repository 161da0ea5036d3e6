"""The SP metadata document: right entity ID and Reply URL for every host of a tenant."""
from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from lxml import etree
from saml2 import md

from sso.sp import sp_endpoints
from sso.sp_metadata import sp_metadata_xml

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS = {"md": MD}


def _parse(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))


def _assert_sp_metadata(xml: str, host: str) -> None:
    endpoints = sp_endpoints(host=host)
    root = _parse(xml)
    assert root.tag == f"{{{MD}}}EntityDescriptor"
    assert root.get("entityID") == endpoints.entity_id
    sp = root.find("md:SPSSODescriptor", NS)
    assert sp is not None
    assert sp.get("protocolSupportEnumeration") == "urn:oasis:names:tc:SAML:2.0:protocol"
    assert sp.get("AuthnRequestsSigned") == "false"
    # A signed Response without a signed Assertion is accepted (Entra "Sign SAML response"), so no promise.
    assert sp.get("WantAssertionsSigned") == "false"
    assert [e.text for e in sp.findall("md:NameIDFormat", NS)] == [
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"]
    [acs] = sp.findall("md:AssertionConsumerService", NS)
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    assert acs.get("Location") == endpoints.acs_url
    assert acs.get("index") == "0" and acs.get("isDefault") == "true"
    # Single logout at one stable URL per host, both bindings (sso.slo), before NameIDFormat as the schema wants.
    slo = sp.findall("md:SingleLogoutService", NS)
    assert [(e.get("Binding"), e.get("Location")) for e in slo] == [
        ("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", endpoints.slo_url),
        ("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", endpoints.slo_url)]
    assert endpoints.slo_url == f"{endpoints.base_url}/sso/slo/"
    assert list(sp).index(slo[-1]) < list(sp).index(sp.find("md:NameIDFormat", NS))


def test_sp_metadata_names_the_entity_id_and_acs_of_the_host_it_is_for(settings):
    settings.PORTICO_URL_SCHEME, settings.PORTICO_URL_PORT = "https", None
    xml = sp_metadata_xml(endpoints=sp_endpoints(host="acme.localhost"), organisation_name="Acme Property Management")
    root = _parse(xml)
    assert root.get("entityID") == "https://acme.localhost/sso/metadata/"
    acs = root.find("md:SPSSODescriptor/md:AssertionConsumerService", NS)
    assert acs.get("Location") == "https://acme.localhost/sso/acs/"
    assert root.findtext("md:Organization/md:OrganizationDisplayName", namespaces=NS) == "Acme Property Management"
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')


def test_sp_metadata_is_valid_saml_metadata_for_pysaml2():
    xml = sp_metadata_xml(endpoints=sp_endpoints(host="acme.localhost"), organisation_name="Acme & Sons <Ltd>")
    descriptor = md.entity_descriptor_from_string(xml)
    assert descriptor.entity_id == sp_endpoints(host="acme.localhost").entity_id
    [sp] = descriptor.spsso_descriptor
    assert sp.assertion_consumer_service[0].location == sp_endpoints(host="acme.localhost").acs_url
    assert sp.want_assertions_signed == "false"
    assert [e.location for e in sp.single_logout_service] == [sp_endpoints(host="acme.localhost").slo_url] * 2
    assert descriptor.organization.organization_name[0].text == "Acme & Sons <Ltd>"


def test_two_hosts_of_one_tenant_get_different_correct_entity_ids_and_reply_urls(acme):
    production = sp_metadata_xml(endpoints=sp_endpoints(host="acme.localhost"), organisation_name=acme.name)
    staging = sp_metadata_xml(endpoints=sp_endpoints(host="acme-staging.localhost"), organisation_name=acme.name)
    _assert_sp_metadata(production, "acme.localhost")
    _assert_sp_metadata(staging, "acme-staging.localhost")
    assert _parse(production).get("entityID") != _parse(staging).get("entityID")
    assert "acme-staging" not in production and "//acme.localhost" not in staging


@pytest.mark.parametrize("host", ["acme.localhost", "acme-staging.localhost"])
def test_metadata_url_of_each_host_serves_that_hosts_values(acme, host):
    from django.test import Client

    response = Client(HTTP_HOST=host).get("/sso/metadata/")
    assert response.status_code == 200
    _assert_sp_metadata(response.content.decode(), host)


def test_sp_metadata_command_prints_the_primary_hosts_metadata_by_default(acme, capsys):
    call_command("sso_sp_metadata", "acme")
    out = capsys.readouterr().out
    _assert_sp_metadata(out, "acme.localhost")


def test_sp_metadata_command_prints_the_staging_hosts_metadata_with_host(acme, capsys):
    call_command("sso_sp_metadata", "acme", "--host", "ACME-staging.localhost")
    _assert_sp_metadata(capsys.readouterr().out, "acme-staging.localhost")


@pytest.mark.parametrize("host", ["globex.localhost", "evil.example", "localhost"])
def test_sp_metadata_command_refuses_a_host_that_is_not_the_tenants(acme, globex, host, capsys):
    with pytest.raises(CommandError, match=f"{host} is not a host of tenant acme; its hosts are: acme.localhost"):
        call_command("sso_sp_metadata", "acme", "--host", host)
    assert capsys.readouterr().out == ""


def test_sp_metadata_command_refuses_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant 'nobody'"):
        call_command("sso_sp_metadata", "nobody")
