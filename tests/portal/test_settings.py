"""Production differs only by environment, and then passes Django's deployment checks."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "PORTICO_BEHIND_PROXY", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


PRODUCTION = {"DEBUG": "false", "PORTICO_BASE_URL": "https://portal.example.com", "PORTICO_BASE_DOMAIN": "portal.example.com"}


def test_production_settings_pass_check_deploy():
    from cryptography.fernet import Fernet

    result = _manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50),
                     PORTICO_KEY_ENCRYPTION_KEYS=Fernet.generate_key().decode(), **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_asks_for_a_key_encryption_key_apart_from_secret_key():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)
    assert result.returncode != 0
    assert "portico.W006" in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_x_forwarded_proto_is_trusted_only_when_portico_behind_proxy_says_so():
    show = ("shell", "-c", "from django.conf import settings; print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))")
    key = secrets.token_urlsafe(50)
    assert _manage(*show, SECRET_KEY=key).stdout.strip().splitlines()[-1] == "None"
    assert _manage(*show, SECRET_KEY=key, PORTICO_BEHIND_PROXY="true").stdout.strip().splitlines()[-1] == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_without_a_proxy_a_client_claiming_https_gets_http_sp_values(acme_client):
    xml = acme_client.get("/sso/metadata/", HTTP_X_FORWARDED_PROTO="https").content.decode()
    assert 'entityID="http://acme.localhost' in xml and "https://" not in xml.split("<ds:Signature")[0]


def test_behind_a_tls_proxy_the_sp_values_use_https(acme_client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # as PORTICO_BEHIND_PROXY=true sets it
    settings.PORTICO_BASE_URL, settings.PORTICO_URL_SCHEME, settings.PORTICO_URL_PORT = "https://portal.example.com", "https", None
    xml = acme_client.get("/sso/metadata/", HTTP_X_FORWARDED_PROTO="https").content.decode()
    assert 'entityID="https://acme.localhost/sso/metadata/"' in xml
    assert 'Location="https://acme.localhost/sso/acs/"' in xml


def test_the_stylesheet_is_served_by_the_app_server(public_client):
    response = public_client.get("/static/portico/portico.css")
    assert response.status_code == 200
    assert b".topbar" in b"".join(response.streaming_content) if response.streaming else response.content


def test_every_start_up_check_has_an_id_of_its_own():
    """Operators search docs/deploy.md by these ids; two checks sharing one would send them astray."""
    import re
    from collections import Counter

    source = (REPO / "portal" / "checks.py").read_text()
    ids = Counter(re.findall(r'id="(portico\.[EW]\d{3})"', source))
    assert ids and [i for i, n in ids.items() if n > 1] == []
