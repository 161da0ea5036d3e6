"""The audit log of a tenant's Client Administrators: their tenant's history only, filtered, as CSV."""
from __future__ import annotations

import csv
import io

from provisioning.models import AccessLevel
from sso.models import SignInAttempt
from tenants.models import AuditEvent
from tenants.services import audit_record
from tests.provisioning.factories import member_create


def _ca(tenant: str = "acme"):
    return member_create(tenant=tenant, access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=(),
                         first_name="Cara", last_name="Admin")


def _history(acme, globex):
    audit_record(actor="user:cara@acme.example", action="member.access_change", tenant=acme,
                 target="bo@acme.example",
                 data={"changes": {"access_level": ["technician", "property-manager"],
                                   "properties": [[], ["harbour-view"]]}})
    audit_record(actor="user:gil@globex.example", action="member.remove", tenant=globex, target="secret@globex.example")
    SignInAttempt.objects.create(tenant=acme, reference="ACMEREF1", outcome="failure", code="expired",
                                 email="late@acme.example")
    SignInAttempt.objects.create(tenant=acme, reference="ACMEREF2", outcome="success", code="ok",
                                 email="bo@acme.example")
    SignInAttempt.objects.create(tenant=globex, reference="GLOBREF1", outcome="success", code="ok",
                                 email="gil@globex.example")


def test_a_client_administrator_reads_their_tenants_history_in_words_and_nothing_of_another(
        acme, globex, as_member):
    _history(acme, globex)
    html = as_member(_ca()).get("/account/audit-log/").content.decode().replace("<wbr>", "")
    assert "Access changed" in html and "Access level: Technician → Property Manager" in html
    assert "Properties: none → Harbour View" in html
    assert "Sign-in refused" in html and "clocks disagree" in html and "ACMEREF1" in html
    assert "Signed in" in html
    assert "globex" not in html.lower() and "GLOBREF1" not in html
    assert "member.access_change" not in html


def test_the_audit_log_filters_by_kind_and_person(acme, globex, as_member):
    _history(acme, globex)
    client = as_member(_ca())
    refusals = client.get("/account/audit-log/?kind=refusal").content.decode().replace("<wbr>", "")
    assert "ACMEREF1" in refusals and "ACMEREF2" not in refusals and "Access changed" not in refusals
    access = client.get("/account/audit-log/?kind=access").content.decode().replace("<wbr>", "")
    assert "Access changed" in access and "ACMEREF1" not in access
    person = client.get("/account/audit-log/?q=late@").content.decode().replace("<wbr>", "")
    assert "ACMEREF1" in person and "bo@acme.example" not in person


def test_the_csv_export_holds_this_tenants_rows_only_and_neutralises_formulas(acme, globex, as_member):
    _history(acme, globex)
    audit_record(actor="user:x", action="member.add", tenant=acme, target="=HYPERLINK(1)")
    response = as_member(_ca()).get("/account/audit-log.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["time (UTC)", "kind", "what"]
    body = "\n".join(",".join(r) for r in rows[1:])
    assert "ACMEREF1" in body and "GLOBREF1" not in body and "secret@globex.example" not in body
    assert "'=HYPERLINK(1)" in body
    assert len(rows) == 1 + AuditEvent.objects.filter(tenant=acme).count() + SignInAttempt.objects.filter(
        tenant=acme).count()


def test_only_client_administrators_open_the_audit_log(acme, as_member):
    pm = member_create(access_level=AccessLevel.PROPERTY_MANAGER)
    assert as_member(pm).get("/account/audit-log/").status_code == 403
    assert as_member(pm).get("/account/audit-log.csv").status_code == 403


def test_the_audit_log_pages_through_many_events(acme, as_member):
    for i in range(60):
        audit_record(actor="cli", action="member.add", tenant=acme, target=f"p{i}@acme.example")
    client = as_member(_ca())
    first = client.get("/account/audit-log/").content.decode().replace("<wbr>", "")
    assert "Page 1 of 2" in first and "p59@acme.example" in first and "p0@acme.example" not in first
    second = client.get("/account/audit-log/?page=2").content.decode().replace("<wbr>", "")
    assert "p0@acme.example" in second and "p59@acme.example" not in second
