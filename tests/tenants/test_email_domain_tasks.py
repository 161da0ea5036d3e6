"""The DNS verification tasks: a real Celery worker resolving through the local DNS server, the beat
dispatcher, and the retry on a DNS failure."""
from __future__ import annotations

import os

import pytest
from django.conf import settings

from tenants.domain_verification import verification_record_name, verification_record_value
from tenants.models import AuditEvent, EmailDomain, Tenant
from tenants.selectors import tenant_for_email
from tenants.services import tenant_email_domain_remove, tenant_email_domains_add
from tenants.tasks import DNS_MAX_RETRIES, SWEEP_ACTOR, email_domain_verify, email_domains_verify_pending

PUBLIC = {"_schema_name": "public"}


def _drain(timeout: float = 30) -> None:
    """Wait until the worker has run everything queued before (it takes tasks one by one, in order)."""
    from tests.worker_tasks import schema_probe

    assert schema_probe.apply_async(headers=PUBLIC).get(timeout=timeout)["schema"] == "public"


def test_the_sweep_runs_every_few_minutes_for_the_public_schema():
    entry = settings.CELERY_BEAT_SCHEDULE["tenants.email_domains_verify_pending"]
    assert entry["task"] == email_domains_verify_pending.name
    assert entry["options"]["headers"] == PUBLIC


@pytest.mark.worker
def test_a_real_worker_verifies_a_claim_whose_record_is_published(committed_db, celery_worker, dns_server):
    acme = Tenant.objects.get(slug="acme")
    domain = f"w{os.getpid()}-task.example"
    (row,) = tenant_email_domains_add(tenant=acme, domains=[domain], actor="test")
    try:
        assert email_domain_verify.apply_async(args=[row.pk], headers=PUBLIC).get(timeout=30) == "not_found"
        dns_server.txt_set(verification_record_name(domain), verification_record_value(row.verification_token))
        assert email_domain_verify.apply_async(args=[row.pk], headers=PUBLIC).get(timeout=30) == "verified"
        # Delivered twice (acks_late, a lost worker): the second run changes nothing.
        assert email_domain_verify.apply_async(args=[row.pk], headers=PUBLIC).get(timeout=30) == "already_verified"
        assert tenant_for_email(email=f"kim@{domain}") == acme
        assert AuditEvent.objects.filter(action="tenant.email_domain_verify", target=domain, actor=SWEEP_ACTOR).count() == 1
        assert dns_server.queried(verification_record_name(domain)) == 2
    finally:
        tenant_email_domain_remove(tenant=acme, domain=domain, actor="test")
        dns_server.forget(verification_record_name(domain))


@pytest.mark.worker
def test_the_beat_dispatcher_checks_every_pending_claim_on_the_worker(committed_db, celery_worker, dns_server):
    acme = Tenant.objects.get(slug="acme")
    published, missing = f"w{os.getpid()}-sweep-a.example", f"w{os.getpid()}-sweep-b.example"
    rows = {row.domain: row for row in tenant_email_domains_add(tenant=acme, domains=[published, missing], actor="test")}
    try:
        dns_server.txt_set(verification_record_name(published),
                           verification_record_value(rows[published].verification_token))
        assert email_domains_verify_pending.apply_async(headers=PUBLIC).get(timeout=30) >= 2
        _drain()
        states = {row.domain: (row.verified_method, row.check_result)
                  for row in EmailDomain.objects.filter(domain__in=[published, missing])}
        assert states == {published: ("dns", "verified"), missing: ("", "not_found")}
    finally:
        for domain in (published, missing):
            tenant_email_domain_remove(tenant=acme, domain=domain, actor="test")
            dns_server.forget(verification_record_name(domain))


def test_a_dns_failure_is_retried_then_left_for_the_next_sweep(acme, local_dns):
    (row,) = tenant_email_domains_add(tenant=acme, domains=["retry-dns.example"], actor="test")
    local_dns.fail(verification_record_name(row.domain))
    # Run eagerly (the queue is not the point here), Celery performs each retry at once, without the countdown.
    result = email_domain_verify.apply(args=[row.pk], headers=PUBLIC)
    assert result.get() == "dns_error"
    assert local_dns.queried(verification_record_name(row.domain)) == 1 + DNS_MAX_RETRIES
    row.refresh_from_db()
    assert row.verified_at is None and row.check_result == "dns_error"


def test_a_missing_record_is_not_retried(acme, local_dns):
    (row,) = tenant_email_domains_add(tenant=acme, domains=["no-retry.example"], actor="test")
    assert email_domain_verify.apply(args=[row.pk], headers=PUBLIC).get() == "not_found"
    assert local_dns.queried(verification_record_name(row.domain)) == 1
