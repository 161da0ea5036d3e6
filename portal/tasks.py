"""Operator-facing Celery tasks of the project itself."""
from __future__ import annotations

from django.db import connection

from portal.celery import app


@app.task(name="portal.schema_probe")
def schema_probe() -> dict[str, str | int]:
    """Report the schema a worker runs a task in: proves tenant routing end to end (and in tests)."""
    from provisioning.models import Property

    tenant = getattr(connection, "tenant", None)
    properties = Property.objects.count() if connection.schema_name != "public" else 0
    return {
        "schema": connection.schema_name,
        "tenant": getattr(tenant, "slug", "public"),
        "properties": properties,
    }
