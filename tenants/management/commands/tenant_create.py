from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.errors import TenantError
from tenants.models import Tenant
from tenants.services import tenant_create


class Command(BaseCommand):
    help = ("Create a tenant: its schema (a copy of the template at the head migration), host names "
            "(default SLUG.<base domain>) and email domains. With --count N, create SLUG-1 … SLUG-N.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--host", action="append", default=[], dest="hosts")
        parser.add_argument("--email-domain", action="append", default=[], dest="email_domains",
                            help="an email domain of the tenant, marked verified (an operator vouches for it)")
        parser.add_argument("--count", type=int, default=None,
                            help="create this many tenants SLUG-1 … SLUG-N named 'NAME 1' …, each on its "
                                 "default host, with progress; each one is all or nothing")

    def handle(self, *args, slug: str, name: str, hosts: list[str], email_domains: list[str],
               count: int | None, **options) -> None:
        if count is not None:
            self._create_many(slug=slug, name=name, count=count, hosts=hosts, email_domains=email_domains)
            return
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

    def _create_many(self, *, slug: str, name: str, count: int, hosts: list[str], email_domains: list[str]) -> None:
        if count < 1:
            raise CommandError("--count needs a number of tenants, 1 or more.")
        if hosts or email_domains:
            raise CommandError("--count gives each tenant its default host; --host and --email-domain "
                               "belong to one tenant, so create those one at a time.")
        started = time.perf_counter()
        created = 0
        for number in range(1, count + 1):
            each = f"{slug}-{number}"
            if Tenant.objects.filter(slug=each).exists():
                self.stdout.write(f"[{number}/{count}] {each} exists, kept")
                continue
            try:
                tenant_create(slug=each, name=f"{name} {number}", actor="cli")
            except TenantError as exc:
                raise CommandError(f"[{number}/{count}] {exc} ({created} created before it)") from exc
            created += 1
            if number == count or number % max(1, count // 20) == 0:
                elapsed = time.perf_counter() - started
                self.stdout.write(f"[{number}/{count}] {each} created ({elapsed:.1f} s so far)")
        self.stdout.write(self.style.SUCCESS(f"Created {created} tenants {slug}-1 … {slug}-{count}."))
