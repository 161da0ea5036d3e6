from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sso.sp import sp_endpoints
from sso.sp_metadata import sp_metadata_xml
from tenants.selectors import tenant_get


class Command(BaseCommand):
    help = "Print a tenant's SP metadata XML (entity ID and Reply URL) for one of its hosts (default: the primary)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The tenant's slug")
        parser.add_argument("--host", help="One of the tenant's host names (default: its primary host)")

    def handle(self, *args: object, slug: str, host: str | None, **options: object) -> None:
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}. See `manage.py tenant_list`.")
        hosts = list(tenant.domains.order_by("-is_primary", "domain").values_list("domain", flat=True))
        if not hosts:
            raise CommandError(f"Tenant {slug} has no host name.")
        wanted = (host or "").strip().lower().rstrip(".") or tenant.primary_host
        if wanted not in hosts:
            raise CommandError(f"{host} is not a host of tenant {slug}; its hosts are: {', '.join(hosts)}.")
        xml = sp_metadata_xml(endpoints=sp_endpoints(host=wanted), organisation_name=tenant.name)
        self.stdout.write(xml, ending="")
