from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from tenants.schema_template import (
    TEMPLATE_SCHEMA, schemas_lagging, schemas_migrate, template_refresh, tenant_schema_names,
)


class Command(BaseCommand):
    help = ("Bring the tenant template and every tenant schema to the head migration: schemas already "
            "at head are skipped (one query finds them), lagging ones migrate in parallel.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=int, default=settings.PORTICO_MIGRATE_PROCESSES,
                            help="lagging schemas migrated at once (default: PORTICO_MIGRATE_PROCESSES)")

    def handle(self, *args, processes: int, **options) -> None:
        started = time.perf_counter()
        if template_refresh():
            self.stdout.write(f"Template schema {TEMPLATE_SCHEMA} migrated to head.")
        schemas = tenant_schema_names()
        lagging = schemas_lagging(schema_names=schemas)
        self.stdout.write(f"{len(schemas)} tenant schemas: {len(schemas) - len(lagging)} at head, "
                          f"{len(lagging)} to migrate.")

        def progress(done: int, total: int, schema: str) -> None:
            self.stdout.write(f"  [{done}/{total}] {schema} migrated")

        schemas_migrate(schema_names=lagging, processes=processes, progress=progress)
        self.stdout.write(self.style.SUCCESS(
            f"All tenant schemas at head ({time.perf_counter() - started:.1f} s)."))
