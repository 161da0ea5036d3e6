"""Count database round trips, django-tenants' `SET search_path` included (it is issued on the
cursor Django wraps, so execute_wrapper sees it like any query)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection


@dataclass
class RoundTrips:
    queries: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.queries)

    @property
    def search_path_sets(self) -> int:
        return sum(1 for sql in self.queries if sql.startswith("SET search_path"))


@contextmanager
def round_trips() -> Iterator[RoundTrips]:
    seen = RoundTrips()

    def wrapper(execute, sql, params, many, context):
        seen.queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen
