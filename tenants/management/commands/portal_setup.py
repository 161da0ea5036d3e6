from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from tenants.services import public_tenant_ensure


class Command(BaseCommand):
    help = "Migrate the public and every tenant schema and make sure the public tenant and its hosts exist."

    def handle(self, *args, **options) -> None:
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        public_tenant_ensure()
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
        self.stdout.write(self.style.SUCCESS("Database ready: public schema and all tenant schemas migrated."))
