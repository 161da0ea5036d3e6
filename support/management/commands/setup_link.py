from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from provisioning.errors import ProvisioningError
from support.services import setup_link_create
from tenants.selectors import tenant_get


class Command(BaseCommand):
    help = "Send a one-time set-up link that signs a tenant's first Client Administrator in to SSO settings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="tenant slug")
        parser.add_argument("--email", required=True)

    def handle(self, *args, slug: str, email: str, **options) -> None:
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}. See manage.py tenant_list.")
        try:
            link, url = setup_link_create(tenant=tenant, email=email, actor="cli")
        except ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Set-up link for {link.email} (valid until {link.expires_at:%Y-%m-%d %H:%M} UTC), "
                                             "e-mailed to them:"))
        self.stdout.write(url)
