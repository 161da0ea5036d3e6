"""Tenant schemas cloned from the template: the same schema as migrating, nothing else, all or nothing."""
from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from provisioning.models import Property
from tenants.models import AuditEvent, Domain, EmailDomain, Tenant
from tenants.schema_template import TEMPLATE_SCHEMA, schema_clone_from_template, schemas_lagging


def _shape(schema: str) -> dict[str, list]:
    """Columns, constraints, indexes, sequences and row counts of a schema, its name blanked out."""
    def rows(sql: str) -> list:
        with connection.cursor() as cursor:
            cursor.execute(sql, {"s": schema})
            return sorted(tuple(str(v).replace(f'"{schema}".', "S.").replace(f"{schema}.", "S.") for v in row)
                          for row in cursor.fetchall())

    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])
        tables = sorted(r[0] for r in cursor.fetchall())
        counts = []
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}"')
            counts.append((table, cursor.fetchone()[0]))
    return {
        # Column order, not attnum: a migrated table keeps the slots of dropped columns
        # (contenttypes drops ContentType.name), a clone of it has none; rows read the same.
        "columns": rows("SELECT table_name, column_name, "
                        "row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position), data_type, is_nullable, column_default, "
                        "character_maximum_length, is_identity, identity_generation "
                        "FROM information_schema.columns WHERE table_schema = %(s)s"),
        "constraints": rows("SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid) "
                            "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %(s)s"),
        "indexes": rows("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(s)s"),
        "sequences": rows("SELECT sequencename, data_type, start_value, increment_by, last_value "
                          "FROM pg_sequences WHERE schemaname = %(s)s"),
        "rows": counts,
    }


def test_a_cloned_schema_is_exactly_what_migrating_produces(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA migrated_ref")
    call_command("migrate_schemas", tenant=True, schema_name="migrated_ref", interactive=False, verbosity=0)
    connection.set_schema_to_public()
    schema_clone_from_template(schema_name="cloned_ref")
    migrated, cloned = _shape("migrated_ref"), _shape("cloned_ref")
    assert migrated["columns"] and migrated["indexes"] and migrated["sequences"]
    for part in ("columns", "constraints", "indexes", "sequences", "rows"):
        assert cloned[part] == migrated[part], part
    assert schemas_lagging(schema_names=["migrated_ref", "cloned_ref", TEMPLATE_SCHEMA]) == []


def test_a_new_tenant_gets_no_data_of_another_and_its_sequences_start_fresh(acme):
    with schema_context("acme"):
        assert Property.objects.exists()  # the session tenant has rows and used ids
    call_command("tenant_create", "initech", "--name", "Initech")
    with schema_context("initech"):
        assert not Property.objects.exists()
        assert Property.objects.create(name="First", code="first").pk == 1
    with schema_context(TEMPLATE_SCHEMA):
        assert not Property.objects.exists()  # the template itself stays empty


def test_tenant_create_failing_after_the_schema_is_made_leaves_no_row_schema_or_hosts(db):
    # A real constraint the pre-checks do not know about fails the host insert, after the clone.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE tenants_domain ADD CONSTRAINT test_no_doomed CHECK (domain NOT LIKE 'doomed%%')")
    before = (Tenant.objects.count(), Domain.objects.count(), EmailDomain.objects.count(), AuditEvent.objects.count())
    with pytest.raises(CommandError, match="could not be created"):
        call_command("tenant_create", "doomed", "--name", "Doomed", "--email-domain", "doomed.example")
    assert (Tenant.objects.count(), Domain.objects.count(), EmailDomain.objects.count(),
            AuditEvent.objects.count()) == before
    assert not schema_exists("doomed")


def test_tenant_create_count_creates_many_with_progress(db, capsys):
    call_command("tenant_create", "batch", "--name", "Batch", "--count", "3")
    out = capsys.readouterr().out
    assert "[3/3] batch-3 created" in out and "Created 3 tenants" in out
    assert set(Tenant.objects.filter(slug__startswith="batch-").values_list("slug", flat=True)) == {
        "batch-1", "batch-2", "batch-3"}
    assert all(schema_exists(f"batch_{n}") for n in (1, 2, 3))
    with pytest.raises(CommandError, match="default host"):
        call_command("tenant_create", "batch", "--name", "Batch", "--count", "2", "--host", "x.localhost")


def test_migrate_tenants_skips_tenants_at_head_and_migrates_lagging_ones_in_parallel(committed_db, capsys):
    from tenants.services import tenant_create

    lagging = [tenant_create(slug=f"lag-{n}", name=f"Lag {n}", actor="test") for n in (1, 2)]
    try:
        for tenant in lagging:  # really unapply a migration: the tables go
            call_command("migrate_schemas", "provisioning", "zero", tenant=True, schema_name=tenant.schema_name,
                         interactive=False, verbosity=0)
        connection.set_schema_to_public()
        names = [t.schema_name for t in lagging]
        assert schemas_lagging(schema_names=[*names, "acme", "globex"]) == names
        capsys.readouterr()
        call_command("migrate_tenants", "--processes", "2")
        out = capsys.readouterr().out
        assert "2 to migrate" in out and "[2/2]" in out
        assert schemas_lagging(schema_names=[*names, "acme", "globex"]) == []
        with schema_context("lag_1"):
            assert Property.objects.count() == 0  # the table is back
        call_command("migrate_tenants")
        assert "0 to migrate" in capsys.readouterr().out
    finally:
        connection.set_schema_to_public()
        for tenant in lagging:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
            AuditEvent.objects.filter(tenant=tenant).delete()
            Tenant.objects.filter(pk=tenant.pk).delete()
