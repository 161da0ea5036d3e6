"""The sign-in hot path's writes stay small: JIT creation is one short transaction, audit rows one INSERT."""
from __future__ import annotations

from django_tenants.utils import schema_context

from bench.roundtrips import round_trips
from provisioning.services import user_provision_from_assertion
from tenants.services import audit_record


def _statements(seen) -> list[str]:
    return [sql.split()[0].upper() for sql in seen.queries]


def test_jit_creation_is_one_short_transaction(acme):
    with schema_context("acme"):
        list(acme.domains.all())  # the search_path is set before measuring
        with round_trips() as seen:
            user_provision_from_assertion(tenant=acme, email="jit-count@acme.example", first_name="J", last_name="C")
    kinds = _statements(seen)
    # One transaction (a savepoint inside the test's): lock-read the user, insert user, lock-read
    # the membership, insert it, audit row, stamp the membership.
    assert kinds.count("SAVEPOINT") == 1 and kinds.count("RELEASE") == 1, seen.queries
    assert kinds.count("INSERT") == 3 and len(kinds) <= 9, seen.queries


def test_an_audit_record_is_a_single_insert(acme):
    list(acme.domains.all())
    with round_trips() as seen:
        audit_record(actor="test", action="x.y", tenant=acme, target="t")
    assert _statements(seen) == ["INSERT"], seen.queries
