"""Tasks only the tests need, registered with the test worker (`celery worker --include tests.worker_tasks`)."""
from __future__ import annotations

from celery import shared_task
from django.db import connection


@shared_task(name="tests.schema_probe")
def schema_probe() -> dict[str, str | int]:
    """Report the schema a worker runs a task in: proves tenant routing end to end, and, queued
    after other work, that the solo worker has finished it."""
    from provisioning.models import Property

    tenant = getattr(connection, "tenant", None)
    properties = Property.objects.count() if connection.schema_name != "public" else 0
    return {
        "schema": connection.schema_name,
        "tenant": getattr(tenant, "slug", "public"),
        "properties": properties,
    }
