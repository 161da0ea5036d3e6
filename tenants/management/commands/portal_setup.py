from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from tenants.services import public_tenant_ensure


class Command(BaseCommand):
    help = "Migrate the public schema, the tenant template and every tenant schema not at head, and make sure the public tenant and its hosts exist."

    def handle(self, *args, **options) -> None:
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        public_tenant_ensure()
        # Skips tenants already at head, migrates the others in parallel, refreshes the template.
        call_command("migrate_tenants", stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Database ready: public schema and all tenant schemas migrated."))
