"""The demo set-up (`./scripts/dev`) still gives a tenant whose email domain routes: operators' domains are verified."""
from __future__ import annotations

from django.core.management import call_command

from tenants.models import EmailDomain
from tenants.selectors import tenant_for_email
from testidp.idp import TestIdP


def test_demo_setup_creates_the_demo_tenant_with_its_domain_verified(db, settings, tmp_path):
    settings.DEBUG = True
    metadata = tmp_path / "metadata.xml"
    metadata.write_text(TestIdP("http://localhost:8010").metadata_xml())
    call_command("demo_setup", "--idp-metadata", str(metadata))
    row = EmailDomain.objects.get(domain="demo.example")
    assert row.verified_at is not None and row.verified_method == "operator"
    assert tenant_for_email(email="pm@demo.example").slug == "demo"
    call_command("demo_setup", "--idp-metadata", str(metadata))  # a second run changes nothing about it
    assert EmailDomain.objects.filter(domain="demo.example").count() == 1
