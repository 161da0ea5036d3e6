from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from portal.demo import DEMO_TOTP_KEY_HEX, demo_totp_secret
from provisioning.models import Property
from provisioning.services import property_create
from sso.services import idp_configure_from_metadata, idp_options_update
from tenants.selectors import tenant_get
from tenants.services import tenant_create

DEMO_SLUG = "demo"
SUPPORT_USER, SUPPORT_PASSWORD = "support", "portico-demo"


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant wired to the local test IdP. Development only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--idp-metadata", required=True, help="the test IdP's metadata XML file")

    def handle(self, *args, idp_metadata: str, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_setup creates a known support password; it runs only with DEBUG=true.")
        tenant = tenant_get(slug=DEMO_SLUG) or tenant_create(
            slug=DEMO_SLUG, name="Demo Property Management", hosts=[f"{DEMO_SLUG}.{settings.PORTICO_BASE_DOMAIN}"],
            email_domains=["demo.example"], actor="demo_setup",
        )
        with schema_context(tenant.schema_name):
            for name, code in (("Harbour View", "harbour-view"), ("Elm Court", "elm-court")):
                if not Property.objects.filter(code=code).exists():
                    property_create(name=name, code=code, actor="demo_setup")
        # The test IdP's key is kept in .devdata, so re-running keeps the same trust.
        idp = idp_configure_from_metadata(tenant=tenant, document=Path(idp_metadata).read_bytes(),
                                          allow_idp_initiated=True, actor="demo_setup")
        # The local test IdP stands in for the customer's Entra ID, so label the button as Entra's would be.
        idp_options_update(idp=idp, display_name="Microsoft", actor="demo_setup")
        for email, first, last, level in (("pm@demo.example", "Pat", "Manager", "property-manager"),
                                          ("admin@demo.example", "Alex", "Admin", "client-administrator")):
            call_command("member_add", DEMO_SLUG, "--email", email, "--first-name", first, "--last-name", last,
                         "--access-level", level, "--property", "harbour-view", "--property", "elm-court",
                         stdout=self.stdout)
        User = get_user_model()
        support = User.objects.filter(username=SUPPORT_USER).first() or User(username=SUPPORT_USER)
        support.email, support.is_staff, support.is_superuser = "support@portico.localhost", True, True
        support.set_password(SUPPORT_PASSWORD)
        support.save()
        # Staff need a second factor for the admin; the demo's is a known secret (portal.demo).
        TOTPDevice.objects.filter(user=support).exclude(key=DEMO_TOTP_KEY_HEX).delete()
        TOTPDevice.objects.get_or_create(user=support, key=DEMO_TOTP_KEY_HEX,
                                         defaults={"name": "demo authenticator", "confirmed": True})
        self.stdout.write(self.style.SUCCESS(
            "Demo ready: tenant 'demo' (demo.example) signs in through the local test IdP; "
            "pm@demo.example is a Property Manager, admin@demo.example a Client Administrator. Django admin: "
            f"user {SUPPORT_USER!r}, password {SUPPORT_PASSWORD!r}, then the code of TOTP secret "
            f"{demo_totp_secret()} (or run: .venv/bin/python -m portal.demo)."))
