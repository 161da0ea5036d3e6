"""The email typed on Portico goes to the IdP as login_hint; a different account signed in is said plainly."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from sso.login_hint import login_hint_clean, url_with_login_hint
from tests.conftest import client_for, idp_sign_in


def _start(client, email: str):
    response = client.get(f"/sso/login/?next=/&login_hint={email}")
    assert response.status_code == 302
    return response


def test_the_discovery_button_carries_the_typed_email_to_sso_login(acme, public_client):
    page = public_client.post("/login/", {"email": "Sam@Acme.example", "next": "/"}).content.decode()
    assert "login_hint=sam%40acme.example" in page


def test_sp_initiated_sign_in_passes_the_typed_email_as_login_hint_on_the_redirect_url(acme):
    response = _start(client_for("acme.localhost"), "sam@acme.example")
    params = parse_qs(urlsplit(response["Location"]).query)
    assert params["login_hint"] == ["sam@acme.example"]
    assert "SAMLRequest" in params  # the AuthnRequest itself is untouched


@pytest.mark.parametrize("bad", ["not-an-email", "a@b@c", "sam@acme.example\r\nX: y", "x" * 300 + "@acme.example"])
def test_an_implausible_login_hint_is_not_passed_on(acme, bad):
    response = _start(client_for("acme.localhost"), bad)
    assert "login_hint" not in parse_qs(urlsplit(response["Location"]).query)


def test_signing_in_as_the_typed_address_shows_no_notice(acme):
    client = client_for("acme.localhost")
    start = _start(client, "same.person@acme.example")
    acs_url, fields = idp_sign_in(start["Location"], "same.person@acme.example")
    page = client.post(urlsplit(acs_url).path, fields, follow=True).content.decode()
    assert "but your identity provider signed you in as" not in page


def test_the_next_page_says_so_when_the_idp_signed_in_another_address(acme):
    client = client_for("acme.localhost")
    start = _start(client, "typed.person@acme.example")
    acs_url, fields = idp_sign_in(start["Location"], "other.account@acme.example")
    page = client.post(urlsplit(acs_url).path, fields, follow=True).content.decode()
    assert ("You typed typed.person@acme.example on Portico, but your identity provider signed you in as "
            "other.account@acme.example.") in page


def test_login_hint_helpers_keep_the_authn_request_parameters():
    url = url_with_login_hint("https://idp.example/saml2?SAMLRequest=abc%3D&RelayState=%2F", "a+b@x.example")
    assert url.startswith("https://idp.example/saml2?SAMLRequest=abc%3D&RelayState=%2F&login_hint=a%2Bb%40x.example")
    assert login_hint_clean(" A@X.Example ") == "a@x.example"
