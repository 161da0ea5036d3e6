"""The service-provider side Portico shows a customer admin: Identifier, Reply URL, Sign-on URL.

Built from the tenant's host with the scheme and port of PORTICO_BASE_URL (https when the request
arrived over TLS, including behind a proxy that sets X-Forwarded-Proto). These URLs are pasted into
the IdP, so they never change shape.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from tenants.selectors import host_base_url

ACS_PATH = "/sso/acs/"
METADATA_PATH = "/sso/metadata/"
LOGIN_PATH = "/sso/login/"
SLO_PATH = "/sso/slo/"  # SingleLogoutService, both bindings (Entra: Logout Url)


@dataclass(frozen=True)
class SpEndpoints:
    host: str
    base_url: str
    entity_id: str  # Entra: Identifier (Entity ID)
    acs_url: str  # Entra: Reply URL (Assertion Consumer Service URL)
    sign_on_url: str  # Entra: Sign on URL
    metadata_url: str
    slo_url: str  # Entra: Logout Url (Optional)


def sp_endpoints(*, host: str, scheme: str | None = None) -> SpEndpoints:
    base = host_base_url(host=host, scheme=scheme)
    return SpEndpoints(
        host=host, base_url=base, entity_id=f"{base}{METADATA_PATH}", acs_url=f"{base}{ACS_PATH}",
        sign_on_url=f"{base}{LOGIN_PATH}", metadata_url=f"{base}{METADATA_PATH}",
        slo_url=f"{base}{SLO_PATH}",
    )


def sp_endpoints_for_request(request: HttpRequest) -> SpEndpoints:
    scheme = "https" if request.is_secure() else settings.PORTICO_URL_SCHEME
    return sp_endpoints(host=request.get_host(), scheme=scheme)
