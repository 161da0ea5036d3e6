from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from provisioning.errors import ProvisioningError
from provisioning.services import property_create
from tenants.selectors import tenant_get


class Command(BaseCommand):
    help = "Create a property (site) in a tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="tenant slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--code", default=None, help="short code; derived from the name if omitted")

    def handle(self, *args, slug: str, name: str, code: str | None, **options) -> None:
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}. See manage.py tenant_list.")
        try:
            with tenant_context(tenant):
                prop = property_create(name=name, code=code, actor="cli")
        except ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Created property {prop.name} (code {prop.code}) in tenant {tenant.slug}"))
