"""Tenant schemas from a template kept at the head migration, and which schemas lag behind it.

Running every tenant migration for each new tenant costs more as the catalogue grows (each
migration re-reads it). Instead one schema, `_template`, is migrated like a tenant and each new
tenant's schema is a copy of it made in one round trip: the template's DDL (taken once per
template state with `pg_dump --schema-only`, schema name rewritten), the rows migrations wrote
(django_migrations, content types, permissions) and its sequence positions. So a clone is what
migrating would have produced, and the template holds nothing else: only migrations write to it.

Why not django-tenants' own clone (TENANT_BASE_SCHEMA + clone_schema): it re-creates a
4,000-line PL/pgSQL function and walks the catalogue per table on every creation, then runs
`migrate_schemas --fake` (loading the migration graph) per tenant.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections, transaction

from tenants.errors import TenantError
from tenants.types import tenant_connection

TEMPLATE_SCHEMA = "_template"  # a leading underscore: no tenant slug can map to it
_ADVISORY_LOCK = 0x706F7274  # "port": serialises template refreshes across processes


@dataclass(frozen=True)
class _TemplateCopy:
    fingerprint: tuple[int, int]
    ddl: str  # with {schema} where the schema name goes
    tables_with_rows: tuple[str, ...]
    sequences: tuple[str, ...]


_copy_cache: dict[str, _TemplateCopy] = {}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=1)
def migration_leaves() -> tuple[tuple[str, str], ...]:
    """The leaf nodes of the migration graph: a schema that recorded all of them is at head.

    Tenant schemas record every migration, shared apps' included (the router only skips their
    operations), so the whole graph's leaves apply.
    """
    from django.db.migrations.loader import MigrationLoader

    return tuple(sorted(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes()))


def schemas_lagging(*, schema_names: Sequence[str]) -> list[str]:
    """Which of these schemas miss a head migration (or do not exist yet): two queries in all,
    however many schemas, instead of loading the graph against each schema in turn."""
    names = list(dict.fromkeys(schema_names))
    if not names:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r' AND n.nspname = ANY(%s)",
            [names],
        )
        with_table = {row[0] for row in cursor.fetchall()}
        at_head: set[str] = set()
        leaves = migration_leaves()
        if with_table and leaves:
            pairs = ", ".join(["(%s, %s)"] * len(leaves))
            flat = [part for leaf in leaves for part in leaf]
            selects, params = [], []
            for name in sorted(with_table):
                selects.append(
                    f"SELECT %s, count(*) FROM {_q(name)}.django_migrations WHERE (app, name) IN ({pairs})"
                )
                params += [name, *flat]
            cursor.execute(" UNION ALL ".join(selects), params)
            at_head = {name for name, count in cursor.fetchall() if count == len(leaves)}
    return [name for name in names if name not in at_head]


def template_refresh(*, verbosity: int = 0) -> bool:
    """Create or migrate the template schema if it is not at head; True if it changed."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])
        if not schemas_lagging(schema_names=[TEMPLATE_SCHEMA]):
            return False
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(TEMPLATE_SCHEMA)}")
        call_command("migrate_schemas", tenant=True, schema_name=TEMPLATE_SCHEMA, interactive=False,
                     verbosity=verbosity)
    tenant_connection().set_schema_to_public()
    _copy_cache.clear()
    return True


def _template_fingerprint() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {_q(TEMPLATE_SCHEMA)}.django_migrations")
        count, top = cursor.fetchone()
    return int(count), int(top)


def _pg_dump_schema_ddl() -> str:
    db = connection.settings_dict
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    command = [os.environ.get("PG_DUMP", "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
               "--no-comments", "--schema", TEMPLATE_SCHEMA, "--dbname", db["NAME"]]
    if db.get("HOST"):
        command += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        command += ["--port", str(db["PORT"])]
    if db.get("USER"):
        command += ["--username", str(db["USER"])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise TenantError(f"Could not read the template schema with pg_dump: {done.stderr.strip()}")
    return done.stdout


_SESSION_LINE = re.compile(r"^(SET |SELECT pg_catalog\.set_config|CREATE SCHEMA |--|\\)")  # and psql meta-commands such as \\restrict
_QUALIFIED = re.compile(r"(?<![\w\"$])" + re.escape(TEMPLATE_SCHEMA) + r"\.")


def _ddl_as_template(dump: str) -> str:
    """pg_dump's DDL with the template's schema name replaced by a {schema} placeholder.

    The session settings pg_dump emits (search_path among them) are dropped: they would change
    the connection's search_path behind django-tenants' back.
    """
    statements = [line for line in dump.splitlines() if line.strip() and not _SESSION_LINE.match(line)]
    body = "\n".join(statements).replace("{", "{{").replace("}", "}}")
    return _QUALIFIED.sub("{schema}.", body)


def _template_copy() -> _TemplateCopy:
    fingerprint = _template_fingerprint()
    cached = _copy_cache.get(TEMPLATE_SCHEMA)
    if cached and cached.fingerprint == fingerprint:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'S') ORDER BY c.relname",
            [TEMPLATE_SCHEMA],
        )
        relations = cursor.fetchall()
        tables = [name for name, kind in relations if kind == "r"]
        sequences = tuple(name for name, kind in relations if kind == "S")
        counts = " UNION ALL ".join(
            f"SELECT %s WHERE EXISTS (SELECT 1 FROM {_q(TEMPLATE_SCHEMA)}.{_q(t)})" for t in tables
        )
        cursor.execute(counts, tables)
        with_rows = tuple(row[0] for row in cursor.fetchall())
    copy = _TemplateCopy(fingerprint=fingerprint, ddl=_ddl_as_template(_pg_dump_schema_ddl()),
                         tables_with_rows=with_rows, sequences=sequences)
    _copy_cache[TEMPLATE_SCHEMA] = copy
    return copy


def schema_clone_from_template(*, schema_name: str) -> None:
    """Create `schema_name` as a copy of the template in one statement batch.

    Runs in the caller's transaction, so a later failure rolls the schema back with the rest.
    The template must be at head and committed (pg_dump reads it from its own connection).
    """
    copy = _template_copy()
    target, source = _q(schema_name), _q(TEMPLATE_SCHEMA)
    parts = [f"CREATE SCHEMA {target};", copy.ddl.format(schema=target)]
    parts += [f"INSERT INTO {target}.{_q(t)} SELECT * FROM {source}.{_q(t)};" for t in copy.tables_with_rows]
    parts += [
        f"SELECT setval('{target}.{_q(s)}', last_value, is_called) FROM {source}.{_q(s)};"
        for s in copy.sequences
    ]
    with connection.cursor() as cursor:
        cursor.execute("\n".join(parts))
    # The batch ran with whatever search_path was set; nothing in it changed it, but be explicit
    # that the next cursor must set the path again rather than trust a remembered one.
    tenant_connection().search_path_set_schemas = None


def template_ready() -> bool:
    """Make sure the template is at head; False if it had to be built inside an open
    transaction, where pg_dump (another connection) cannot see it yet."""
    changed = template_refresh()
    return not (changed and connection.in_atomic_block)


def _migrate_one(schema_name: str) -> str:
    call_command("migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=0)
    return schema_name


def _worker_start() -> None:
    # Forked children must not share the parent's socket: forget it without closing it.
    for conn in connections.all():
        conn.connection = None


def schemas_migrate(*, schema_names: Iterable[str], processes: int, progress=None) -> list[str]:
    """Migrate these schemas, `processes` at a time (forked workers, one connection each)."""
    names = list(schema_names)
    if not names:
        return []
    if processes <= 1 or len(names) == 1:
        for index, name in enumerate(names, 1):
            _migrate_one(name)
            if progress:
                progress(index, len(names), name)
        return names
    connections.close_all()
    context = multiprocessing.get_context("fork")
    done = []
    with context.Pool(processes=min(processes, len(names)), initializer=_worker_start) as pool:
        for index, name in enumerate(pool.imap_unordered(_migrate_one, names), 1):
            done.append(name)
            if progress:
                progress(index, len(names), name)
    return done


def tenant_schema_names() -> list[str]:
    from tenants.models import Tenant

    return list(Tenant.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
                .order_by("schema_name").values_list("schema_name", flat=True))
