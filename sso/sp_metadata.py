"""The SP metadata document a customer admin can upload to their IdP instead of typing the URLs.

Built with lxml from the same SpEndpoints the settings page shows, so the two never disagree.
Served by /sso/metadata/ (sso/views.py) and printed by `manage.py sso_sp_metadata`.
"""
from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from sso.sp import SpEndpoints

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _md(tag: str) -> str:
    return f"{{{MD_NS}}}{tag}"


def _key_descriptor(parent: etree._Element, *, use: str, certificate_pem: str) -> etree._Element:
    key = etree.SubElement(parent, _md("KeyDescriptor"), {"use": use})
    data = etree.SubElement(etree.SubElement(key, f"{{{DS_NS}}}KeyInfo"), f"{{{DS_NS}}}X509Data")
    body = "".join(line.strip() for line in certificate_pem.strip().splitlines() if "-----" not in line)
    etree.SubElement(data, f"{{{DS_NS}}}X509Certificate").text = body
    return key


# What sso.xmlenc decrypts, announced in the encryption KeyDescriptor (SAML metadata §2.4.1.1); RSA-1_5
# is absent on purpose: Portico refuses it.
ENCRYPTION_METHODS = (
    "http://www.w3.org/2009/xmlenc11#aes256-gcm", "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc", "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep", "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
)


def sp_metadata_xml(*, endpoints: SpEndpoints, organisation_name: str, certificates: Sequence[str] = (),
                    authn_requests_signed: bool = False) -> str:
    """An md:EntityDescriptor for one host of a tenant: entity ID, the tenant's SP certificates (each for
    signing and for encryption; during a rotation both keys), ACS (HTTP-POST) and NameID format.

    `authn_requests_signed` is the tenant's option (IdentityProvider.sign_authn_requests): Portico then
    signs every AuthnRequest with the signing key listed here. Portico insists on a signature over the
    Assertion or over the Response that holds it, and decrypts an EncryptedAssertion made for the
    encryption key listed here.
    """
    entity = etree.Element(_md("EntityDescriptor"), {"entityID": endpoints.entity_id}, nsmap={"md": MD_NS, "ds": DS_NS})
    sp = etree.SubElement(
        entity,
        _md("SPSSODescriptor"),
        {
            "protocolSupportEnumeration": SAML2_PROTOCOL,
            "AuthnRequestsSigned": "true" if authn_requests_signed else "false",
            # What the verifier accepts: a signed Assertion, a signed Response around it, or both
            # (Entra's three signing options). "true" would promise a refusal Portico does not make.
            "WantAssertionsSigned": "false",
        },
    )
    # Schema order inside SPSSODescriptor: KeyDescriptor, NameIDFormat, AssertionConsumerService.
    for pem in certificates:
        _key_descriptor(sp, use="signing", certificate_pem=pem)
        encryption = _key_descriptor(sp, use="encryption", certificate_pem=pem)
        for algorithm in ENCRYPTION_METHODS:
            etree.SubElement(encryption, _md("EncryptionMethod"), {"Algorithm": algorithm})
    # Single logout, both bindings, at one URL (sso.slo); schema order puts it before NameIDFormat.
    for binding in (BINDING_REDIRECT, BINDING_POST):
        etree.SubElement(sp, _md("SingleLogoutService"), {"Binding": binding, "Location": endpoints.slo_url})
    etree.SubElement(sp, _md("NameIDFormat")).text = NAMEID_EMAIL
    etree.SubElement(
        sp,
        _md("AssertionConsumerService"),
        {"Binding": BINDING_POST, "Location": endpoints.acs_url, "index": "0", "isDefault": "true"},
    )
    name = (organisation_name or "").strip()
    if name:
        organisation = etree.SubElement(entity, _md("Organization"))
        for tag, text in (("OrganizationName", name), ("OrganizationDisplayName", name),
                          ("OrganizationURL", f"{endpoints.base_url}/")):
            etree.SubElement(organisation, _md(tag), {XML_LANG: "en"}).text = text
    body = etree.tostring(entity, encoding="unicode", pretty_print=True)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'

