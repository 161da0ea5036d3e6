"""Verified email domains: what may be claimed, who holds a domain, and the DNS TXT check against a
real DNS server on 127.0.0.1 (tests.dns_server) over UDP."""
from __future__ import annotations

import importlib

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from tenants.domain_verification import (
    public_email_domains,
    resolvers_parse,
    verification_record_name,
    verification_record_value,
)
from tenants.errors import TenantError
from tenants.models import AuditEvent, EmailDomain
from tenants.selectors import email_domains_of, tenant_for_email
from tenants.services import (
    email_domain_dns_check,
    email_domain_verified_mark,
    tenant_email_domain_remove,
    tenant_email_domains_add,
)
from tenants.types import DomainCheck, EmailDomainRefusal


def _claim(tenant, domain: str) -> EmailDomain:
    (row,) = tenant_email_domains_add(tenant=tenant, domains=[domain], actor="user:ca@example")
    return row


def _publish(dns, row: EmailDomain) -> None:
    dns.txt_set(verification_record_name(row.domain), "v=spf1 -all", verification_record_value(row.verification_token))


# --- settings and the maintained lists ---------------------------------------------------------------------


def test_resolvers_are_read_as_ip_and_port_pairs():
    assert resolvers_parse("127.0.0.1:5353, [::1]:53,9.9.9.9") == [("127.0.0.1", 5353), ("::1", 53), ("9.9.9.9", 53)]
    assert resolvers_parse("") == []


@pytest.mark.parametrize("value", ["dns.example:53", "127.0.0.1:0", "127.0.0.1:abc", "[::1"])
def test_a_resolver_that_is_not_an_ip_and_port_is_a_configuration_error(value):
    with pytest.raises(ImproperlyConfigured, match="PORTICO_DNS_RESOLVERS"):
        resolvers_parse(value)


def test_the_public_mailbox_list_holds_the_big_providers():
    listed = public_email_domains()
    assert {"gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me", "gmx.de"} <= listed
    assert all(domain == domain.strip().lower() and "." in domain for domain in listed)


@pytest.mark.parametrize("domain", ["gmail.com", "Outlook.com", "proton.me", "gmx.net", "mail.yahoo.com"])
def test_a_public_mailbox_domain_cannot_be_claimed(acme, domain):
    with pytest.raises(TenantError, match="public e-mail provider") as caught:
        tenant_email_domains_add(tenant=acme, domains=[domain], actor="test")
    assert caught.value.code == EmailDomainRefusal.webmail
    assert "reference DOMAIN-WEBMAIL" in str(caught.value)
    assert not EmailDomain.objects.filter(domain=domain.lower()).exists()


@pytest.mark.parametrize("domain", ["portal.example.com", "acme.portal.example.com"])
def test_portico_s_own_domain_and_those_under_it_cannot_be_claimed(acme, settings, domain):
    settings.PORTICO_BASE_DOMAIN = "portal.example.com"
    with pytest.raises(TenantError, match="Portico's own domain") as caught:
        tenant_email_domains_add(tenant=acme, domains=[domain], actor="test")
    assert caught.value.code == EmailDomainRefusal.portico


def test_the_base_url_host_counts_as_portico_s_own(acme, settings):
    settings.PORTICO_BASE_URL = "https://sso.vendor.example"
    with pytest.raises(TenantError, match="reference DOMAIN-PORTICO"):
        tenant_email_domains_add(tenant=acme, domains=["sso.vendor.example"], actor="test")
    assert _claim(acme, "vendor.example").domain == "vendor.example"  # the parent is someone's company


# --- who holds a domain ------------------------------------------------------------------------------------


def test_an_added_domain_starts_unverified_and_routes_nothing(acme):
    row = _claim(acme, "acme-group.example")
    assert row.verified_at is None and len(row.verification_token) >= 32
    assert tenant_for_email(email="kim@acme-group.example") is None
    assert "acme-group.example" not in email_domains_of(tenant=acme)
    assert AuditEvent.objects.filter(tenant=acme, action="tenant.email_domains_add").exists()


def test_each_claim_has_its_own_token(acme, globex):
    assert _claim(acme, "shared.example").verification_token != _claim(globex, "shared.example").verification_token


def test_a_domain_verified_by_another_tenant_is_refused_without_naming_it(acme):
    with pytest.raises(TenantError) as caught:
        tenant_email_domains_add(tenant=acme, domains=["globex.example"], actor="test")
    assert caught.value.code == EmailDomainRefusal.taken
    assert "globex" not in str(caught.value).replace("globex.example", "")


def test_a_sub_domain_of_a_domain_another_tenant_holds_verified_is_refused(acme):
    with pytest.raises(TenantError, match="is under globex.example") as caught:
        tenant_email_domains_add(tenant=acme, domains=["eu.globex.example"], actor="test")
    assert caught.value.code == EmailDomainRefusal.parent_taken


def test_a_sub_domain_of_the_tenant_s_own_verified_domain_may_be_claimed(acme):
    assert _claim(acme, "eu.acme.example").verified_at is None


def test_the_database_holds_one_verified_owner_per_domain(acme, globex):
    from django.utils import timezone

    with pytest.raises(IntegrityError), transaction.atomic():
        EmailDomain.objects.create(tenant=acme, domain="GLOBEX.example", verified_at=timezone.now())


def test_a_pending_claim_of_another_tenant_does_not_block_the_real_owner(acme, globex):
    squat = _claim(acme, "initech.example")
    owner = _claim(globex, "initech.example")
    email_domain_verified_mark(email_domain=owner, method=EmailDomain.Method.SUPPORT, actor="support:ana@vendor.example")
    assert tenant_for_email(email="bob@initech.example") == globex
    assert not EmailDomain.objects.filter(pk=squat.pk).exists()
    removed = AuditEvent.objects.get(tenant=acme, action="tenant.email_domain_claim_remove")
    assert removed.target == "initech.example" and removed.actor == "support:ana@vendor.example"
    verified = AuditEvent.objects.get(tenant=globex, action="tenant.email_domain_verify")
    assert verified.data["method"] == "support" and verified.data["claims_removed"] == ["acme:initech.example"]


def test_verifying_a_domain_removes_other_tenants_claims_under_it(acme, globex):
    under = _claim(acme, "eu.initech.example")
    email_domain_verified_mark(email_domain=_claim(globex, "initech.example"), method="support", actor="test")
    assert not EmailDomain.objects.filter(pk=under.pk).exists()


def test_a_claim_cannot_be_verified_once_another_tenant_holds_the_domain(acme, globex):
    late = _claim(acme, "initech.example")
    first = _claim(globex, "initech.example")
    # Both claims exist; globex wins. acme's row is gone, so a stale handle on it is refused.
    email_domain_verified_mark(email_domain=first, method="support", actor="test")
    with pytest.raises(TenantError) as caught:
        email_domain_verified_mark(email_domain=late, method="support", actor="test")
    assert caught.value.code == EmailDomainRefusal.not_yours


def test_verifying_twice_changes_nothing_the_second_time(acme):
    row = _claim(acme, "twice.example")
    email_domain_verified_mark(email_domain=row, method="support", actor="test")
    email_domain_verified_mark(email_domain=row, method="support", actor="test")
    assert AuditEvent.objects.filter(action="tenant.email_domain_verify", target="twice.example").count() == 1


def test_removing_a_verified_domain_stops_routing_it(acme):
    tenant_email_domain_remove(tenant=acme, domain="acme.example", actor="test")
    assert tenant_for_email(email="dana@acme.example") is None


# --- the DNS TXT check, over UDP to the local DNS server ---------------------------------------------------


def test_the_published_record_verifies_the_claim(acme, local_dns):
    row = _claim(acme, "dns-ok.example")
    _publish(local_dns, row)
    assert email_domain_dns_check(email_domain_id=row.pk, actor="user:ca@acme.example") == DomainCheck.verified
    row.refresh_from_db()
    assert row.verified_at is not None and row.verified_method == "dns"
    assert local_dns.queried("_portico.dns-ok.example") >= 1
    assert tenant_for_email(email="kim@dns-ok.example") == acme
    event = AuditEvent.objects.get(tenant=acme, action="tenant.email_domain_verify", target="dns-ok.example")
    assert event.actor == "user:ca@acme.example" and event.data["method"] == "dns"


def test_no_record_leaves_the_claim_pending_and_says_so(acme, local_dns):
    row = _claim(acme, "dns-missing.example")
    assert email_domain_dns_check(email_domain_id=row.pk, actor="test") == DomainCheck.not_found
    row.refresh_from_db()
    assert row.verified_at is None and row.check_result == "not_found" and row.checked_at is not None
    assert not AuditEvent.objects.filter(action="tenant.email_domain_verify", target=row.domain).exists()


def test_another_claim_s_token_does_not_verify_this_one(acme, globex, local_dns):
    mine = _claim(acme, "dns-other.example")
    theirs = _claim(globex, "dns-other.example")
    _publish(local_dns, theirs)
    assert email_domain_dns_check(email_domain_id=mine.pk, actor="test") == DomainCheck.mismatch
    assert email_domain_dns_check(email_domain_id=theirs.pk, actor="test") == DomainCheck.verified
    assert not EmailDomain.objects.filter(pk=mine.pk).exists()


def test_a_record_at_the_domain_itself_is_not_the_one_asked_for(acme, local_dns):
    row = _claim(acme, "dns-apex.example")
    local_dns.txt_set("dns-apex.example", verification_record_value(row.verification_token))
    assert email_domain_dns_check(email_domain_id=row.pk, actor="test") == DomainCheck.not_found


def test_a_long_record_split_into_strings_is_read_whole(acme, local_dns):
    row = _claim(acme, "dns-long.example")
    EmailDomain.objects.filter(pk=row.pk).update(verification_token="t" * 60)
    local_dns.txt_set("_portico.dns-long.example", "x" * 300, verification_record_value("t" * 60))
    assert email_domain_dns_check(email_domain_id=row.pk, actor="test") == DomainCheck.verified


def test_a_dns_failure_is_reported_as_such_and_changes_nothing(acme, local_dns):
    row = _claim(acme, "dns-fail.example")
    local_dns.fail("_portico.dns-fail.example")
    assert email_domain_dns_check(email_domain_id=row.pk, actor="test") == DomainCheck.dns_error
    row.refresh_from_db()
    assert row.verified_at is None and row.check_result == "dns_error"


def test_the_right_record_for_a_domain_another_tenant_verified_first_is_refused(acme, globex, local_dns):
    row = _claim(acme, "dns-race.example")
    _publish(local_dns, row)
    # Another tenant's claim was verified by support in between (and acme's claim survived, e.g. restored).
    owner = EmailDomain.objects.create(tenant=globex, domain="dns-race.example")
    EmailDomain.objects.filter(pk=owner.pk).update(verified_at="2026-01-01T00:00:00Z", verified_method="support")
    assert email_domain_dns_check(email_domain_id=row.pk, actor="test") == DomainCheck.taken
    row.refresh_from_db()
    assert row.verified_at is None and row.check_result == "taken"


def test_checking_a_verified_or_removed_claim_is_a_no_op(acme, local_dns):
    row = EmailDomain.objects.get(tenant=acme, domain="acme.example")
    assert email_domain_dns_check(email_domain_id=row.pk, actor="test") == DomainCheck.already_verified
    assert email_domain_dns_check(email_domain_id=987654321, actor="test") == DomainCheck.gone
    assert local_dns.queried("_portico.acme.example") == 0


# --- operators and existing data ---------------------------------------------------------------------------


def test_tenant_create_marks_the_operator_s_domains_verified(db):
    call_command("tenant_create", "opverified", "--name", "Op Verified", "--email-domain", "opverified.example")
    row = EmailDomain.objects.get(domain="opverified.example")
    assert row.verified_at is not None and row.verified_method == "operator"
    assert tenant_for_email(email="a@opverified.example").slug == "opverified"


def test_tenant_create_refuses_a_public_mailbox_domain(db):
    with pytest.raises(CommandError, match="reference DOMAIN-WEBMAIL"):
        call_command("tenant_create", "opwebmail", "--name", "Op Webmail", "--email-domain", "gmail.com")


def test_an_operator_s_domain_removes_other_tenants_pending_claims(acme):
    squat = _claim(acme, "opclaimed.example")
    call_command("tenant_create", "opclaimed", "--name", "Op Claimed", "--email-domain", "opclaimed.example")
    assert not EmailDomain.objects.filter(pk=squat.pk).exists()
    assert AuditEvent.objects.filter(tenant=acme, action="tenant.email_domain_claim_remove",
                                     target="opclaimed.example", actor="cli").exists()


def test_the_migration_marks_existing_domains_verified(acme):
    from django.apps import apps

    migration = importlib.import_module("tenants.migrations.0002_email_domain_verification")
    row = EmailDomain.objects.create(tenant=acme, domain="before-verification.example", verification_token="same")
    migration.existing_domains_verified(apps, None)
    row.refresh_from_db()
    assert row.verified_at is not None and row.verified_method == "existing" and row.verification_token != "same"


def test_domains_are_kept_and_matched_in_the_one_canonical_form(acme):
    row = _claim(acme, "@Bücher.Example.")
    assert row.domain == "xn--bcher-kva.example"
    email_domain_verified_mark(email_domain=row, method="support", actor="test")
    assert tenant_for_email(email="kim@bücher.example") == acme
    assert tenant_for_email(email="kim@XN--BCHER-KVA.example") == acme
    assert tenant_for_email(email="kim@bad..example") is None


def test_a_tenant_can_have_only_so_many_claims_waiting(acme):
    from tenants.services import MAX_PENDING_EMAIL_DOMAINS

    tenant_email_domains_add(tenant=acme, domains=[f"wait{n}.example" for n in range(MAX_PENDING_EMAIL_DOMAINS)],
                             actor="test")
    with pytest.raises(TenantError, match="reference DOMAIN-TOO-MANY-PENDING"):
        tenant_email_domains_add(tenant=acme, domains=["one-more.example"], actor="test")
    assert tenant_email_domains_add(tenant=acme, domains=["wait0.example"], actor="test") == []  # already there
    tenant_email_domains_add(tenant=acme, domains=["operator.example"], actor="cli", verified=True)


def test_a_bad_resolver_setting_stops_the_start_and_fails_a_lookup_cleanly(acme, settings):
    from portal.checks import dns_resolvers_check

    settings.PORTICO_DNS_RESOLVERS = "dns.example:53"
    assert [m.id for m in dns_resolvers_check()] == ["portico.E005"]
    row = _claim(acme, "bad-resolver.example")
    assert email_domain_dns_check(email_domain_id=row.pk, actor="test") == DomainCheck.dns_error
    settings.PORTICO_DNS_RESOLVERS = "127.0.0.1:5353"
    assert dns_resolvers_check() == []
