from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.errors import TenantError
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant: its schema, host names (default SLUG.<base domain>) and email domains."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--host", action="append", default=[], dest="hosts")
        parser.add_argument("--email-domain", action="append", default=[], dest="email_domains")

    def handle(self, *args, slug: str, name: str, hosts: list[str], email_domains: list[str], **options) -> None:
        try:
            tenant = tenant_create(slug=slug, name=name, hosts=hosts, email_domains=email_domains, actor="cli")
        except TenantError as exc:
            raise CommandError(str(exc)) from exc
        hosts_text = ", ".join(tenant.domains.order_by("-is_primary", "domain").values_list("domain", flat=True))
        domains_text = ", ".join(tenant.email_domains.values_list("domain", flat=True)) or "none"
        self.stdout.write(
            self.style.SUCCESS(f"Created tenant {tenant.slug} ({tenant.name}), schema {tenant.schema_name}")
            + f"\n  hosts: {hosts_text}\n  email domains: {domains_text}"
        )
