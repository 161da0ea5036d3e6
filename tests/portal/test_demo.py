"""The demo's instructions tell the truth: the TOTP secret printed by scripts/dev and the README is
the one demo_setup enrols, and `python -m portal.demo` prints a code that device accepts."""
from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.demo import DEMO_TOTP_KEY_HEX, demo_totp_code, demo_totp_secret

REPO = Path(__file__).resolve().parents[2]


def test_the_printed_secret_is_the_enrolled_one():
    assert demo_totp_secret() in (REPO / "scripts" / "dev.py").read_text()
    assert demo_totp_secret() in (REPO / "README.md").read_text()


def test_the_demo_code_is_accepted_by_the_demo_device(db):
    user = get_user_model().objects.create_user(username="demo-support", is_staff=True)
    device = TOTPDevice.objects.create(user=user, key=DEMO_TOTP_KEY_HEX, confirmed=True)
    assert device.verify_token(demo_totp_code())


def test_demo_setup_pre_enrols_the_support_users_authenticator_once(db, settings, tmp_path):
    from django.core.management import call_command

    from testidp.idp import TestIdP

    settings.DEBUG = True
    metadata = tmp_path / "metadata.xml"
    metadata.write_text(TestIdP("http://localhost:8010").metadata_xml())
    call_command("demo_setup", "--idp-metadata", str(metadata))
    call_command("demo_setup", "--idp-metadata", str(metadata))
    [device] = TOTPDevice.objects.filter(user__username="support")
    assert device.confirmed and device.key == DEMO_TOTP_KEY_HEX
    assert device.verify_token(demo_totp_code())
