"""Tenants by the thousand: creation, a no-op migration pass, routing cost — each against a
baseline measured in the same run, in a database of its own that is dropped afterwards.

    .venv/bin/python -m bench.tenants [--count N] [--baseline-tenants K] [--database-url URL] [--keep]

1. Creation of tenants 1…N through `tenants.services.tenant_create` (schema cloned from the
   template). Baseline: django-tenants' own creation, which runs every tenant migration, timed for
   K tenants after the first 10 and K after the N-th (so both ends of the catalogue are compared).
2. A no-op migration pass over all N tenants: `migrate_tenants` (one query finds nobody lagging)
   against `migrate_schemas --tenant` (loads the graph and checks each schema in turn).
3. Routing, per request, with N tenants: database round trips (`SET search_path` included) and
   time, for django-tenants' TenantMainMiddleware (its defaults) and Portico's
   CachedTenantMiddleware with a cold cache, a cached host of another tenant than the
   connection's, and a cached host of the connection's tenant. Each request also runs one query,
   as any view does, so a `SET search_path` deferred to the first query is counted.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DEBUG", "true")  # settings refuse to load without a SECRET_KEY otherwise


def _bench_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_bench"))


def _admin_sql(url: str, *statements: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3 if values else float("nan")


def _create_baseline(slug: str) -> float:
    """django-tenants' own way: save() creates the schema and runs every tenant migration."""
    from tenants.models import Domain, Tenant
    from tenants.services import default_host

    start = time.perf_counter()
    tenant = Tenant(slug=slug, name=slug, schema_name=slug.replace("-", "_"))
    tenant.save(verbosity=0)
    Domain.objects.create(tenant=tenant, domain=default_host(slug), is_primary=True)
    return time.perf_counter() - start


def _routing(hosts: list[str], samples: int) -> dict[str, dict[str, float]]:
    from django.db import connection
    from django.test import RequestFactory, override_settings
    from django_tenants.middleware.main import TenantMainMiddleware

    from bench.roundtrips import round_trips
    from tenants.middleware import CachedTenantMiddleware
    from tenants.routing import routing_invalidate
    from tenants.types import tenant_connection

    factory = RequestFactory()

    def one(middleware, host: str) -> tuple[int, int, float]:
        request = factory.get("/", HTTP_HOST=host)
        with round_trips() as seen:
            start = time.perf_counter()
            middleware.process_request(request)
            elapsed = time.perf_counter() - start
            routing_only = seen.total
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")  # the view's first query
        return routing_only, seen.total - 1, elapsed

    def run(name: str, middleware, pick, before=None) -> dict[str, float]:
        trips, with_first_query, times = [], [], []
        for index in range(samples):
            host = pick(index)
            if before:
                before(host)
            r, w, t = one(middleware, host)
            trips.append(r)
            with_first_query.append(w)
            times.append(t)
        return {"middleware_round_trips": statistics.mean(trips), "routing_round_trips": statistics.mean(with_first_query),
                "median_ms": _median_ms(times), "max_round_trips": max(with_first_query)}

    rng = random.Random(11)
    spread = [rng.choice(hosts) for _ in range(samples)]
    upstream, cached = TenantMainMiddleware(lambda r: None), CachedTenantMiddleware(lambda r: None)
    results = {}
    with override_settings(TENANT_LIMIT_SET_CALLS=False):  # upstream's default
        results["upstream, any host"] = run("upstream", upstream, lambda i: spread[i])
    results["Portico, cold cache"] = run("cold", cached, lambda i: spread[i], before=lambda h: routing_invalidate())
    for host in spread:  # warm every sampled host
        one(cached, host)
    # Alternate between two halves so each request switches schema (a worker serving many tenants).
    results["Portico, cached host, other schema"] = run("switch", cached, lambda i: spread[i])
    same = spread[0]
    one(cached, same)
    results["Portico, cached host, same schema"] = run("same", cached, lambda i: same)
    tenant_connection().set_schema_to_public()
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="tenants to create (default 1,000)")
    parser.add_argument("--baseline-tenants", type=int, default=3,
                        help="tenants created the upstream way after #10 and after #N (default 3)")
    parser.add_argument("--routing-samples", type=int, default=200)
    parser.add_argument("--database-url", default=None,
                        help="a database of its own (default: DATABASE_URL's name + _bench); dropped at the end")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--quiet", action="store_true", help="no per-100 progress lines")
    opts = parser.parse_args(argv)
    count = max(opts.count, 1)

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portico")
    url = opts.database_url or _bench_url(base_url)
    name = urlsplit(url).path.lstrip("/")
    _admin_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from tenants.services import tenant_create
    from tenants.types import tenant_connection

    load_before = _load()
    print(f"bench.tenants: {count} tenants in database {name}; {load_before}", flush=True)
    try:
        setup_start = time.perf_counter()
        call_command("portal_setup", verbosity=0, stdout=open(os.devnull, "w"))
        print(f"setup (public schema, template): {time.perf_counter() - setup_start:.1f} s", flush=True)

        creation: list[float] = []
        baseline_early: list[float] = []
        baseline_late: list[float] = []
        for number in range(1, count + 1):
            start = time.perf_counter()
            tenant_create(slug=f"t-{number}", name=f"Tenant {number}", actor="bench")
            creation.append(time.perf_counter() - start)
            if number == min(10, count):
                baseline_early = [_create_baseline(f"b-early-{k}") for k in range(1, opts.baseline_tenants + 1)]
            if not opts.quiet and number % 100 == 0:
                print(f"  created {number}/{count} (last: {creation[-1] * 1e3:.0f} ms)", flush=True)
        baseline_late = [_create_baseline(f"b-late-{k}") for k in range(1, opts.baseline_tenants + 1)]

        start = time.perf_counter()
        call_command("migrate_tenants", stdout=open(os.devnull, "w"))
        noop_pass = time.perf_counter() - start
        start = time.perf_counter()
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
        noop_baseline = time.perf_counter() - start
        tenant_connection().set_schema_to_public()

        hosts = [f"t-{n}.localhost" for n in range(1, count + 1)]
        routing = _routing(hosts, opts.routing_samples)
    finally:
        connections.close_all()
        if not opts.keep:
            _admin_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    ten = min(10, count)
    early = creation[max(0, ten - 5):ten + 5]  # tenants 6–15: one sample is at the machine's mercy
    late = creation[-10:]
    results = {
        "count": count,
        "create_1_s": creation[0], "create_10_s": creation[ten - 1], "create_n_s": creation[-1],
        "create_early_median_s": statistics.median(early), "create_late_median_s": statistics.median(late),
        "create_total_s": sum(creation),
        "baseline_early_median_s": statistics.median(baseline_early) if baseline_early else float("nan"),
        "baseline_late_median_s": statistics.median(baseline_late) if baseline_late else float("nan"),
        "noop_migrate_s": noop_pass, "noop_migrate_baseline_s": noop_baseline,
        "routing": routing,
    }
    ratio = results["create_late_median_s"] / results["create_early_median_s"]
    print(f"\n1. Tenant creation ({count} tenants, {results['create_total_s']:.0f} s in all)")
    print(f"   {'':44}{'#10':>10}{'#' + str(count):>10}{'#N/#10':>9}")
    print(f"   {'Portico, from the template (one sample)':44}{results['create_10_s']:10.3f}{results['create_n_s']:10.3f}"
          f"{results['create_n_s'] / results['create_10_s']:9.2f}")
    print(f"   {'Portico, median of #6–15 vs last 10':44}{results['create_early_median_s']:10.3f}"
          f"{results['create_late_median_s']:10.3f}{ratio:9.2f}")
    print(f"   {'baseline: django-tenants, every migration':44}{results['baseline_early_median_s']:10.3f}"
          f"{results['baseline_late_median_s']:10.3f}"
          f"{results['baseline_late_median_s'] / results['baseline_early_median_s']:9.2f}")
    print(f"\n2. No-op migration pass over {count + 2 * opts.baseline_tenants} tenants: migrate_tenants {noop_pass:.2f} s, "
          f"baseline migrate_schemas --tenant {noop_baseline:.1f} s ({noop_pass / noop_baseline:.3f} of it)")
    print(f"\n3. Routing with {count} tenants, {opts.routing_samples} requests each "
          f"(round trips: in the middleware / with the view's first query, which pays any deferred SET)")
    for label, row in routing.items():
        print(f"   {label:38} {row['middleware_round_trips']:5.2f} / {row['routing_round_trips']:5.2f} round trips"
              f"   {row['median_ms']:7.3f} ms median")
    print(f"\n{_load()} (before: {load_before})")
    same = routing["Portico, cached host, same schema"]["routing_round_trips"]
    switch = routing["Portico, cached host, other schema"]["routing_round_trips"]
    upstream = routing["upstream, any host"]["routing_round_trips"]
    print(f"SUMMARY tenants={count} create#10={results['create_early_median_s']:.3f}s "
          f"create#{count}={results['create_late_median_s']:.3f}s ratio={ratio:.2f} "
          f"(upstream {results['baseline_late_median_s']:.3f}s) noop-migrate={noop_pass:.2f}s "
          f"(upstream {noop_baseline:.1f}s) routing round trips cached={same:.0f} warm={switch:.0f} "
          f"(upstream {upstream:.0f})")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
