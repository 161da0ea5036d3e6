"""Schemas, host routing and the tenant command-line contract."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import schema_context, schema_exists

from provisioning.models import Property
from tenants.models import Domain, EmailDomain, Tenant


def test_two_tenants_have_two_schemas_and_see_only_their_own_data(acme, globex):
    assert schema_exists("acme") and schema_exists("globex")
    with schema_context("acme"):
        Property.objects.create(name="Only At Acme", code="only-at-acme")
        get_user_model().objects.create_user(username="ann@acme.example", email="ann@acme.example")
    with schema_context("globex"):
        assert not Property.objects.filter(code="only-at-acme").exists()
        assert not get_user_model().objects.filter(email="ann@acme.example").exists()
        assert set(Property.objects.values_list("code", flat=True)) == {"globex-tower"}
    with schema_context("acme"):
        assert Property.objects.filter(code="only-at-acme").exists()


def test_request_to_a_tenant_host_resolves_to_that_tenant(acme):
    request = RequestFactory().get("/", HTTP_HOST="acme.localhost")
    TenantMainMiddleware(lambda r: None).process_request(request)
    assert request.tenant.slug == "acme"
    assert connection.schema_name == "acme"
    request = RequestFactory().get("/", HTTP_HOST="acme-staging.localhost:8000")
    TenantMainMiddleware(lambda r: None).process_request(request)
    assert request.tenant.slug == "acme"


def test_unknown_host_gets_a_clean_404_page(db, settings):
    settings.ALLOWED_HOSTS = ["*"]
    from django.test import Client

    response = Client(HTTP_HOST="nobody.localhost").get("/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"Traceback" not in response.content


def test_tenant_create_makes_schema_hosts_and_email_domains(db, capsys):
    call_command("tenant_create", "initech", "--name", "Initech", "--email-domain", "initech.example",
                 "--email-domain", "INITECH.example")
    tenant = Tenant.objects.get(slug="initech")
    assert schema_exists("initech")
    assert list(tenant.domains.values_list("domain", flat=True)) == ["initech.localhost"]
    assert list(tenant.email_domains.values_list("domain", flat=True)) == ["initech.example"]
    assert "Created tenant initech" in capsys.readouterr().out


@pytest.mark.parametrize("slug", ["Public", "public", "pg_x", "pgadmin", "a b", "a", "9lives", "www", "admin", "x-", "x_y", "x" * 64])
def test_tenant_create_rejects_invalid_slugs_and_changes_nothing(db, slug):
    before = (Tenant.objects.count(), Domain.objects.count())
    with pytest.raises(CommandError, match="Invalid slug"):
        call_command("tenant_create", slug, "--name", "X")
    assert (Tenant.objects.count(), Domain.objects.count()) == before


def test_tenant_create_rejects_a_duplicate_slug(acme):
    with pytest.raises(CommandError, match="already exists"):
        call_command("tenant_create", "acme", "--name", "Acme again")
    assert Tenant.objects.filter(slug="acme").count() == 1


def test_tenant_create_rejects_a_host_owned_by_another_tenant_and_changes_nothing(acme):
    before = (Tenant.objects.count(), Domain.objects.count(), EmailDomain.objects.count())
    with pytest.raises(CommandError, match="already belongs to tenant acme"):
        call_command("tenant_create", "acme2", "--name", "Acme 2", "--host", "new.localhost", "--host", "acme.localhost")
    assert (Tenant.objects.count(), Domain.objects.count(), EmailDomain.objects.count()) == before
    assert not schema_exists("acme2")


@pytest.mark.parametrize("host", ["bad host", "http://x.localhost", "x.localhost:8000", "x-.localhost", "under_score.localhost"])
def test_tenant_create_rejects_an_invalid_host(db, host):
    with pytest.raises(CommandError, match="Invalid host"):
        call_command("tenant_create", "hosty", "--name", "Hosty", "--host", host)
    assert not Tenant.objects.filter(slug="hosty").exists()


def test_tenant_create_rejects_an_email_domain_of_another_tenant(acme):
    with pytest.raises(CommandError, match="acme.example already signs in through another organisation on Portico"):
        call_command("tenant_create", "copycat", "--name", "Copycat", "--email-domain", "ACME.example")
    assert not Tenant.objects.filter(slug="copycat").exists()


def test_property_create_and_tenant_list(acme, capsys):
    call_command("property_create", "acme", "--name", "Riverside Lofts", "--code", "RL-1")
    with schema_context("acme"):
        assert Property.objects.filter(code="rl-1", name="Riverside Lofts").exists()
    with pytest.raises(CommandError, match="already exists"):
        call_command("property_create", "acme", "--name", "Riverside Again", "--code", "rl-1")
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        call_command("property_create", "nope", "--name", "X")
    call_command("tenant_list")
    out = capsys.readouterr().out
    assert "acme" in out and "globex" in out and "acme.example" in out
