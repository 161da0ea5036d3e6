"""Settings the ACS reads do what the README says: the AuthnRequest TTL and the assertion lifetime cap."""
from __future__ import annotations

import base64
from datetime import timedelta

from django.test import override_settings

from sso.models import SignInAttempt
from tests.conftest import client_for, sso_start


def _answer(client, idp, **kwargs):
    _, info = sso_start(client)
    xml = idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="ttl@acme.example",
                             in_response_to=info.id, **kwargs)
    return client.post("/sso/acs/", {"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": "/",
                                     "portico_bounce": "1"})


def test_a_response_to_a_request_older_than_the_ttl_is_refused(acme, acme_idp):
    client = client_for("acme.localhost")
    with override_settings(PORTICO_SAML_REQUEST_TTL_SECONDS=0):
        response = _answer(client, acme_idp)
    assert response.status_code == 403
    assert SignInAttempt.objects.order_by("-id").first().code == "request_expired"
    assert client.get("/api/me").status_code == 401


def test_a_response_to_a_request_within_the_ttl_signs_in(acme, acme_idp):
    client = client_for("acme.localhost")
    with override_settings(PORTICO_SAML_REQUEST_TTL_SECONDS=600):
        response = _answer(client, acme_idp)
    assert response.status_code == 302
    assert client.get("/api/me").status_code == 200


def test_the_lifetime_cap_is_read_from_settings(acme, acme_idp):
    client = client_for("acme.localhost")
    with override_settings(PORTICO_SAML_MAX_ASSERTION_LIFETIME_SECONDS=60):
        response = _answer(client, acme_idp, lifetime=timedelta(minutes=10))
    assert response.status_code == 403
    assert SignInAttempt.objects.order_by("-id").first().code == "lifetime_too_long"
