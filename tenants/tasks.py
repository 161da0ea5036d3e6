"""Verifying email domain claims by DNS: a dispatcher on beat, one idempotent task per claim.

EmailDomain rows live in the public schema, so the tasks take ids only and are queued for it; the
dispatcher is scheduled in settings.CELERY_BEAT_SCHEDULE.
"""
from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from tenants.selectors import email_domain_ids_pending
from tenants.services import email_domain_dns_check
from tenants.types import DomainCheck

logger = logging.getLogger("portico.tenants")

PUBLIC = {"_schema_name": "public"}
DB_ERRORS = (OperationalError, InterfaceError)
DNS_MAX_RETRIES = 3
DNS_RETRY_BASE_SECONDS = 60
# Who the audit log names for a verification the sweep found.
SWEEP_ACTOR = "system:dns-check"


@shared_task(name="tenants.email_domains_verify_pending", autoretry_for=DB_ERRORS, retry_backoff=60,
             retry_jitter=True, max_retries=5)
def email_domains_verify_pending() -> int:
    """Dispatcher: one tenants.email_domain_verify task per pending claim."""
    ids = email_domain_ids_pending()
    for email_domain_id in ids:
        email_domain_verify.apply_async(args=[email_domain_id], headers=PUBLIC)
    logger.info("DNS verification queued for %d pending email domain claim(s)", len(ids))
    return len(ids)


@shared_task(bind=True, name="tenants.email_domain_verify", autoretry_for=DB_ERRORS, retry_backoff=60,
             retry_jitter=True, max_retries=DNS_MAX_RETRIES)
def email_domain_verify(self, email_domain_id: int) -> str:  # noqa: ANN001 (Celery's bound task)
    """Check one claim's TXT record. Idempotent: a verified or removed claim is left alone. A DNS
    failure (timeout, SERVFAIL) is tried again with a growing delay; a missing or wrong record is not
    (the next sweep looks again)."""
    outcome = email_domain_dns_check(email_domain_id=email_domain_id, actor=SWEEP_ACTOR)
    if outcome == DomainCheck.dns_error and self.request.retries < DNS_MAX_RETRIES:
        raise self.retry(countdown=DNS_RETRY_BASE_SECONDS * 2 ** self.request.retries, max_retries=DNS_MAX_RETRIES)
    return str(outcome)
