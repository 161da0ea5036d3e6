"""Each tenant's pysaml2 SP configuration, built from its IdentityProvider row at request time.

djangosaml2 calls `saml_config_for_request` (settings.SAML_CONFIG_LOADER). Building a config parses
the IdP's metadata, which costs milliseconds; configs are cached per process by (IdP row, version,
SP endpoints), so an edit (which bumps `version`) takes effect on the next request everywhere. A
tenant's draft connection (sso.models.StagedConnection) has configs of its own, keyed by the draft
row and its version, used only by a test sign-in started against it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import saml2
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from lxml import etree
from saml2.config import SPConfig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS

from sso.models import IdentityProvider, StagedConnection
from sso.sp import SpEndpoints, sp_endpoints_for_request

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
_CACHE_SIZE = 512
_cache: OrderedDict[tuple, SPConfig] = OrderedDict()
_lock = threading.Lock()


class IdpNotConfigured(LookupError):
    """The tenant has no identity provider."""


def idp_metadata_document(*, entity_id: str, sso_url: str, certificate_pems: list[str]) -> str:
    """A minimal IdP metadata document from the row: the values Portico trusts, nothing else.

    Uploaded documents carry WS-Federation roles, other tenants' keys in multi-tenant files, and
    encryption keys; pysaml2 only ever sees what the row says.
    """
    entity = etree.Element(f"{{{MD}}}EntityDescriptor", nsmap={"md": MD, "ds": DS}, entityID=entity_id)
    role = etree.SubElement(entity, f"{{{MD}}}IDPSSODescriptor",
                            protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol")
    for pem in certificate_pems:
        key = etree.SubElement(role, f"{{{MD}}}KeyDescriptor", use="signing")
        data = etree.SubElement(etree.SubElement(key, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
        body = "".join(line for line in pem.strip().splitlines() if "-----" not in line)
        etree.SubElement(data, f"{{{DS}}}X509Certificate").text = body
    etree.SubElement(role, f"{{{MD}}}SingleSignOnService", Binding=saml2.BINDING_HTTP_REDIRECT, Location=sso_url)
    return etree.tostring(entity, encoding="unicode")


def sp_config_dict(*, entity_id: str, sso_url: str, certificate_pems: list[str], allow_idp_initiated: bool,
                   endpoints: SpEndpoints, tenant_name: str) -> dict:
    """pysaml2's SP configuration for one tenant host, from plain values (no database needed)."""
    return {
        "entityid": endpoints.entity_id,
        "xmlsec_binary": settings.SAML_XMLSEC_BINARY,
        # Entra's claims (objectidentifier, groups, …) are not in pysaml2's attribute maps.
        "allow_unknown_attributes": True,
        "accepted_time_diff": settings.PORTICO_SAML_CLOCK_SKEW_SECONDS,
        "service": {
            "sp": {
                "name": f"Portico: {tenant_name}",
                "endpoints": {"assertion_consumer_service": [(endpoints.acs_url, saml2.BINDING_HTTP_POST)]},
                "allow_unsolicited": allow_idp_initiated,
                "authn_requests_signed": False,
                # Entra signs the assertion by default and the response only on request: require either.
                "want_response_signed": False,
                "want_assertions_signed": False,
                "want_assertions_or_response_signed": True,
                "name_id_format": NAMEID_FORMAT_EMAILADDRESS,
                "idp": {entity_id: {"single_sign_on_service": {saml2.BINDING_HTTP_REDIRECT: sso_url}}},
            }
        },
        "metadata": {"inline": [idp_metadata_document(entity_id=entity_id, sso_url=sso_url,
                                                      certificate_pems=certificate_pems)]},
    }


def idp_for_sign_in(tenant) -> IdentityProvider:
    """The tenant's IdP, or IdpNotConfigured."""
    from sso.selectors import idp_for_tenant

    idp = idp_for_tenant(tenant=tenant)
    if idp is None:
        raise IdpNotConfigured(f"Tenant {getattr(tenant, 'slug', tenant)} has no identity provider configured.")
    return idp


def _config_cached(key: tuple, values: dict) -> SPConfig:
    with _lock:
        conf = _cache.get(key)
        if conf is not None:
            _cache.move_to_end(key)
            return conf
    conf = SPConfig()
    conf.load(sp_config_dict(**values))
    with _lock:
        _cache[key] = conf
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return conf


def saml_config_for(*, idp: IdentityProvider, endpoints: SpEndpoints) -> SPConfig:
    key = ("live", idp.pk, idp.version, idp.updated, endpoints.entity_id, endpoints.acs_url)
    return _config_cached(key, {
        "entity_id": idp.entity_id, "sso_url": idp.sso_url, "certificate_pems": [c.pem for c in idp.certificates.all()],
        "allow_idp_initiated": idp.allow_idp_initiated, "endpoints": endpoints, "tenant_name": idp.tenant.name})


def saml_config_for_draft(*, draft: StagedConnection, endpoints: SpEndpoints) -> SPConfig:
    """The config a test sign-in against the tenant's draft starts with (its AuthnRequest goes to the
    draft's SSO URL). Keyed apart from the live config: testing a draft never evicts or alters it."""
    key = ("draft", draft.pk, draft.version, draft.updated, endpoints.entity_id, endpoints.acs_url)
    return _config_cached(key, {
        "entity_id": draft.entity_id, "sso_url": draft.sso_url, "certificate_pems": list(draft.certificate_pems),
        "allow_idp_initiated": False, "endpoints": endpoints, "tenant_name": draft.tenant.name})


def saml_config_for_request(request: HttpRequest | None = None) -> SPConfig:
    """djangosaml2's SAML_CONFIG_LOADER: the config of the tenant the request's host belongs to."""
    # djangosaml2 helpers called without config= land here with no request: that would be a
    # config for no tenant at all, so refuse loudly rather than guess.
    tenant = getattr(request, "tenant", None)
    if request is None or tenant is None or tenant.schema_name == "public":
        raise ImproperlyConfigured("A SAML configuration exists only for a tenant host's request.")
    return saml_config_for(idp=idp_for_sign_in(tenant), endpoints=sp_endpoints_for_request(request))

