"""Security edges of every response: CSP without inline script, www redirect, health details, cookie rotation."""
from __future__ import annotations

import base64
import re

from django.conf import settings
from django.test import override_settings

from portal.celery import app as celery_app
from tests.conftest import client_for, sso_start


def test_every_page_carries_a_content_security_policy_without_inline_script(acme_client):
    response = acme_client.get("/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy


def test_no_template_has_inline_script():
    from pathlib import Path

    inline = []
    for path in (Path(settings.BASE_DIR) / "templates").rglob("*.html"):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\son[a-z]+=\"", text):
            inline.append(str(path))
    assert inline == []


def test_www_host_redirects_to_the_bare_tenant_host(acme):
    client = client_for("www.acme.localhost")
    response = client.get("/sso/metadata/?x=1")
    assert response.status_code == 301
    assert response["Location"] == "http://acme.localhost/sso/metadata/?x=1"
    posted = client.post("/sso/acs/", {"SAMLResponse": "x"})
    assert posted.status_code == 308


def test_healthz_hides_driver_errors_from_outside_callers(public_client, monkeypatch):
    dead = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(settings, "REDIS_URL", dead)
    monkeypatch.setattr(celery_app.conf, "broker_url", dead)
    outside = public_client.get("/healthz", REMOTE_ADDR="203.0.113.9")
    assert outside.status_code == 503
    assert outside.json()["components"]["redis"] == {"ok": False}
    assert "6379" not in outside.content.decode() and "127.0.0.1" not in outside.content.decode()
    proxied = public_client.get("/healthz", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert "detail" not in proxied.json()["components"]["redis"]
    with override_settings(PORTICO_HEALTH_TOKEN="s3cret"):
        inside = public_client.get("/healthz", REMOTE_ADDR="203.0.113.9", HTTP_X_PORTICO_HEALTH_TOKEN="s3cret")
        wrong = public_client.get("/healthz", REMOTE_ADDR="203.0.113.9", HTTP_X_PORTICO_HEALTH_TOKEN="guess")
    assert "Error" in inside.json()["components"]["redis"]["detail"]
    assert "detail" not in wrong.json()["components"]["redis"]


def test_both_session_cookies_rotate_at_sign_in_and_clear_at_sign_out(acme, acme_idp):
    client = client_for("acme.localhost")
    _, info = sso_start(client)
    saml_before = client.cookies[settings.SAML_SESSION_COOKIE_NAME].value
    xml = acme_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="rotate@acme.example",
                                  in_response_to=info.id)
    response = client.post("/sso/acs/", {"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": "/"})
    assert response.status_code == 302
    assert client.cookies[settings.SAML_SESSION_COOKIE_NAME].value not in ("", saml_before)
    assert client.get("/api/me").status_code == 200
    session_in = client.cookies[settings.SESSION_COOKIE_NAME].value
    saml_in = client.cookies[settings.SAML_SESSION_COOKIE_NAME].value
    client.post("/logout/")
    # The IdP has a logout URL: a fresh SAML session holds only the ID of the LogoutRequest sent (sso.slo).
    assert client.cookies[settings.SAML_SESSION_COOKIE_NAME].value not in ("", saml_in)
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != session_in
    assert client.get("/api/me").status_code == 401


def test_without_single_logout_both_session_cookies_clear_at_sign_out(acme, acme_idp):
    from sso.models import IdentityProvider

    IdentityProvider.objects.filter(tenant=acme).update(slo_url="")
    client = client_for("acme.localhost")
    _, info = sso_start(client)
    xml = acme_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="clear@acme.example",
                                  in_response_to=info.id)
    assert client.post("/sso/acs/", {"SAMLResponse": base64.b64encode(xml.encode()).decode(),
                                     "RelayState": "/"}).status_code == 302
    client.post("/logout/")
    assert client.cookies[settings.SAML_SESSION_COOKIE_NAME].value == ""
    assert client.get("/api/me").status_code == 401
