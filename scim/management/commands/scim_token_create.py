"""python manage.py scim_token_create SLUG [--name NAME]: a new SCIM Secret Token for a tenant.

Contract: the token is printed alone on the last line of the output (scripts read `tail -n 1`).
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from provisioning.selectors import tenant_url
from scim.services import scim_token_create
from tenants.selectors import tenant_get


class Command(BaseCommand):
    help = "Create a SCIM Secret Token for a tenant's Entra provisioning; prints the token on the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="A name to tell tokens apart (default: Entra provisioning <date>)")

    def handle(self, *args, slug: str, name: str, **options) -> None:
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}. See `python manage.py tenant_list`.")
        with schema_context(tenant.schema_name):
            token, secret = scim_token_create(tenant=tenant, name=name, actor="cli")
        self.stdout.write(f"Created SCIM token {token.name!r} for {tenant.slug}. It is shown once; Portico keeps only "
                          "its hash.")
        self.stdout.write(f"Tenant URL: {tenant_url(tenant=tenant, path='/scim/v2/')}?aadOptscim062020")
        self.stdout.write("Secret Token:")
        self.stdout.write(secret)
