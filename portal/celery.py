"""Celery app: reads Django settings under the CELERY_ namespace; tasks run in their tenant's schema.

tenant-schemas-celery records the schema active when a task is queued (or the `_schema_name`
given to apply_async) and switches the worker's connection to it before the task runs.
"""
from __future__ import annotations

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = CeleryApp("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _task_packages() -> list[str]:
    from django.conf import settings

    return list(settings.INSTALLED_APPS)


app.autodiscover_tasks(_task_packages)
