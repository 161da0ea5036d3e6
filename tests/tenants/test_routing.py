"""Host → tenant routing: cached, invalidated when hosts or status change, no redundant SET search_path."""
from __future__ import annotations

import pytest
from django.db import connection
from django.http import Http404
from django.test import RequestFactory

from bench.roundtrips import round_trips
from tenants.middleware import CachedTenantMiddleware
from tenants.models import Tenant
from tenants.services import tenant_hosts_add, tenant_hosts_remove, tenant_status_set


def route(host: str):
    request = RequestFactory().get("/", HTTP_HOST=host)
    CachedTenantMiddleware(lambda r: None).process_request(request)
    return request


def test_a_cached_host_routes_with_no_database_round_trip(acme):
    route("acme.localhost")
    with connection.cursor() as cursor:  # the connection has set acme's search_path
        cursor.execute("SELECT 1")
    with round_trips() as seen:
        request = route("acme.localhost")
    assert request.tenant.slug == "acme" and connection.schema_name == "acme"
    assert seen.total == 0, seen


def test_a_cached_host_of_another_tenant_costs_one_round_trip_at_its_first_query(acme, globex):
    route("acme.localhost")
    route("globex.localhost")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    with round_trips() as seen:
        route("acme.localhost")
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # the view's first query
    assert seen.search_path_sets == 1 and seen.total == 2, seen


def test_queries_in_one_request_set_the_search_path_once(acme):
    route("acme.localhost")
    with round_trips() as seen:
        list(Tenant.objects.all()[:1])
        list(Tenant.objects.all()[:1])
    assert seen.search_path_sets == 1 and seen.total == 3  # SET once, then the two queries


def test_an_added_host_routes_and_a_removed_one_stops_at_once(acme, django_capture_on_commit_callbacks):
    assert route("acme.localhost").tenant.slug == "acme"
    with django_capture_on_commit_callbacks(execute=True):
        tenant_hosts_add(tenant=acme, hosts=["acme-new.localhost"], actor="test")
    assert route("acme-new.localhost").tenant.slug == "acme"
    with django_capture_on_commit_callbacks(execute=True):
        tenant_hosts_remove(tenant=acme, hosts=["acme-new.localhost"], actor="test")
    with pytest.raises(Http404):
        route("acme-new.localhost")


def test_a_status_change_reaches_the_cached_tenant(acme, django_capture_on_commit_callbacks):
    assert route("acme.localhost").tenant.status == Tenant.Status.ACTIVE
    with django_capture_on_commit_callbacks(execute=True):
        tenant_status_set(tenant=acme, status=Tenant.Status.SUSPENDED, actor="test")
    assert route("acme.localhost").tenant.status == Tenant.Status.SUSPENDED


def test_the_primary_host_cannot_be_removed(acme):
    from tenants.errors import TenantError

    with pytest.raises(TenantError, match="primary host"):
        tenant_hosts_remove(tenant=acme, hosts=["acme.localhost"], actor="test")


def test_an_unknown_host_is_not_remembered(db):
    with pytest.raises(Http404):
        route("nobody.localhost")
    from tenants.routing import _local

    assert "nobody.localhost" not in _local


def _unreachable_redis() -> str:
    import socket

    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/0"


def test_with_the_routing_cache_unreachable_hosts_are_routed_from_postgresql(acme, settings):
    from tenants.routing import tenant_for_host

    settings.CACHES = {**settings.CACHES, "routing": {**settings.CACHES["routing"], "LOCATION": _unreachable_redis()}}
    assert tenant_for_host(host="acme.localhost").slug == "acme"
    assert tenant_for_host(host="nobody.localhost") is None
