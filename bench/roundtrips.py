"""Count database round trips, `SET search_path` included.

django-tenants issues its `SET search_path` on the raw driver cursor, below Django's cursor
wrapper, so CaptureQueriesContext and execute_wrapper alone do not see it; the backend's
_handle_search_path is observed too (it records each path it actually set).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection
from django_tenants.utils import get_limit_set_calls


@dataclass
class RoundTrips:
    queries: list[str] = field(default_factory=list)
    search_path_sets: int = 0

    @property
    def total(self) -> int:
        return len(self.queries) + self.search_path_sets


@contextmanager
def round_trips() -> Iterator[RoundTrips]:
    seen = RoundTrips()
    original = connection._handle_search_path

    def observed(cursor=None):
        # The backend's own condition for issuing the SET (without TENANT_LIMIT_SET_CALLS it
        # re-issues it for every cursor, i.e. before every query).
        issues = not connection._setting_search_path and not (
            get_limit_set_calls() and connection.search_path_set_schemas
        )
        original(cursor)
        if issues:
            seen.search_path_sets += 1

    def wrapper(execute, sql, params, many, context):
        seen.queries.append(sql)
        return execute(sql, params, many, context)

    connection._handle_search_path = observed
    try:
        with connection.execute_wrapper(wrapper):
            yield seen
    finally:
        del connection._handle_search_path
