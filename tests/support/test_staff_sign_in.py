"""Support staff's sign-in to Django admin: password throttled by django-axes, then a TOTP second
factor (django-otp) enrolled at the first sign-in and entered at every one (portal.admin_site)."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.models import AuditEvent
from tests.conftest import client_for, totp_code

PASSWORD = "Correct-horse-battery-staple-1"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(username="sam.support", email="sam@portico.example",
                                                password=PASSWORD, is_staff=True, is_superuser=True)


def _password_sign_in(password: str = PASSWORD):
    client = client_for("localhost")
    response = client.post("/admin/login/?next=/admin/", {"username": "sam.support", "password": password,
                                                          "next": "/admin/"})
    return client, response


def _enrolled(staff):
    return TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)


def test_a_password_alone_opens_no_admin_page(staff):
    _enrolled(staff)
    client, response = _password_sign_in()
    assert response.status_code == 302
    for path in ("/admin/", "/admin/support/newuserrequest/", "/admin/tenants/tenant/"):
        answer = client.get(path, follow=True)
        assert answer.redirect_chain[-1][0].startswith("/admin/2fa/")
        assert "Code from your authenticator app" in answer.content.decode()


def test_first_sign_in_enrols_an_authenticator_then_the_admin_opens(staff):
    client, _ = _password_sign_in()
    page = client.get("/admin/2fa/?next=/admin/").content.decode()
    uri = re.search(r'id="otp-uri">([^<]+)<', page).group(1).replace("&amp;", "&")
    assert uri.startswith("otpauth://totp/Portico%20support%3Asam.support?secret=") and "<svg" in page
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    response = client.post("/admin/2fa/", {"otp_token": totp_code(device), "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert TOTPDevice.objects.get(user=staff).confirmed
    assert AuditEvent.objects.filter(action="staff.totp_enrol", target="sam.support").exists()


def test_a_wrong_or_reused_code_is_refused(staff):
    device = _enrolled(staff)
    client, _ = _password_sign_in()
    wrong = f"{(int(totp_code(device)) + 1) % 1000000:06d}"
    response = client.post("/admin/2fa/", {"otp_token": wrong})
    assert response.status_code == 400 and "not the one your authenticator shows" in response.content.decode()
    assert client.get("/admin/").status_code == 302
    device.refresh_from_db()
    device.throttling_failure_count, device.throttling_failure_timestamp = 0, None  # the wrong code's throttle
    device.save()
    code = totp_code(device)
    assert client.post("/admin/2fa/", {"otp_token": code}).status_code == 302
    again, _ = _password_sign_in()
    assert again.post("/admin/2fa/", {"otp_token": code}).status_code == 400
    assert again.get("/admin/").status_code == 302


def test_an_external_next_is_not_followed(staff):
    device = _enrolled(staff)
    client, _ = _password_sign_in()
    response = client.post("/admin/2fa/", {"otp_token": totp_code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/admin/"


def test_repeated_wrong_passwords_lock_the_sign_in_out(staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        _client, response = _password_sign_in("wrong")
    assert response.status_code == 429 and "Too many failed sign-ins" in response.content.decode()
    _client, response = _password_sign_in()  # the right password, while locked
    assert response.status_code == 429
    assert AccessAttempt.objects.filter(username="sam.support").exists()


def test_tenant_hosts_sign_ins_are_not_counted(acme, acme_client):
    acme_client.post("/admin/login/", {"username": "x", "password": "y"})
    assert not AccessAttempt.objects.exists()


def test_staff_totp_reset_removes_the_authenticator_and_is_audited(staff, support_user):
    device = _enrolled(staff)
    client, _ = _password_sign_in()
    client.post("/admin/2fa/", {"otp_token": totp_code(device)})
    assert client.get("/admin/").status_code == 200
    out = StringIO()
    call_command("staff_totp_reset", "sam.support", stdout=out)
    assert "Removed 1 authenticator" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=staff).exists()
    assert AuditEvent.objects.filter(action="staff.totp_reset", target="sam.support", actor="cli").exists()
    assert client.get("/admin/").status_code == 302  # the session verified with it no longer is
    with pytest.raises(CommandError, match="No support staff account"):
        call_command("staff_totp_reset", "nobody")
