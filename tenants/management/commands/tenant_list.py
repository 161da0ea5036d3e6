from __future__ import annotations

from django.core.management.base import BaseCommand

from tenants.selectors import tenant_list


class Command(BaseCommand):
    help = "List tenants with their hosts and email domains."

    def handle(self, *args, **options) -> None:
        rows = list(tenant_list())
        if not rows:
            self.stdout.write("No tenants yet. Create one with: manage.py tenant_create SLUG --name NAME")
            return
        self.stdout.write(f"{'SLUG':<20} {'STATUS':<10} {'NAME':<30} HOSTS / EMAIL DOMAINS")
        for tenant in rows:
            hosts = ",".join(d.domain for d in tenant.domains.all())
            domains = ",".join(d.domain + ("" if d.is_verified else "(pending)") for d in tenant.email_domains.all()) or "-"
            self.stdout.write(f"{tenant.slug:<20} {tenant.status:<10} {tenant.name[:30]:<30} {hosts} / {domains}")
