from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sso.selectors import sp_certificate_pem, sp_metadata_for
from sso.sp import sp_endpoints
from tenants.selectors import tenant_get


class Command(BaseCommand):
    help = ("Print a tenant's SP metadata XML (entity ID, Reply URL, SP certificates) for one of its hosts "
            "(default: the primary), or with --certificate its newest SP certificate (PEM, the .cer Entra uploads).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The tenant's slug")
        parser.add_argument("--host", help="One of the tenant's host names (default: its primary host)")
        parser.add_argument("--certificate", action="store_true",
                            help="Print the tenant's newest SP certificate (PEM) instead of the metadata")

    def handle(self, *args: object, slug: str, host: str | None, certificate: bool = False,
               **options: object) -> None:
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}. See `manage.py tenant_list`.")
        if certificate:
            self.stdout.write(sp_certificate_pem(tenant=tenant) or "", ending="")
            return
        hosts = list(tenant.domains.order_by("-is_primary", "domain").values_list("domain", flat=True))
        if not hosts:
            raise CommandError(f"Tenant {slug} has no host name.")
        wanted = (host or "").strip().lower().rstrip(".") or tenant.primary_host
        if wanted not in hosts:
            raise CommandError(f"{host} is not a host of tenant {slug}; its hosts are: {', '.join(hosts)}.")
        xml = sp_metadata_for(tenant=tenant, endpoints=sp_endpoints(host=wanted))
        self.stdout.write(xml, ending="")
