"""Scheduled SSO work: refreshing URL-sourced IdP metadata, warning before signing certificates expire.

Everything here reads and writes public-schema rows (IdentityProvider, IdpCertificate), so tasks take
ids only and are queued for the public schema; the e-mail recipients are read in the tenant's schema
by provisioning.selectors.client_admin_emails. Both are scheduled in settings.CELERY_BEAT_SCHEDULE.
"""
from __future__ import annotations

import logging
import random

from celery import shared_task
from django.db import InterfaceError, OperationalError

from sso.models import IdentityProvider
from sso.selectors import certificates_to_warn, idps_to_refresh
from sso.services import certificate_expiry_warn, idp_metadata_refresh

logger = logging.getLogger("portico.sso")

PUBLIC = {"_schema_name": "public"}
# Lost database connections are worth another try; anything else is a bug to look at.
DB_ERRORS = (OperationalError, InterfaceError)
REFRESH_MAX_RETRIES = 3
REFRESH_RETRY_BASE_SECONDS = 5 * 60


@shared_task(name="sso.refresh_all_metadata", autoretry_for=DB_ERRORS, retry_backoff=60, retry_jitter=True,
          max_retries=5)
def refresh_all_metadata() -> int:
    """Dispatcher: one sso.refresh_metadata task per URL-sourced IdP."""
    ids = list(idps_to_refresh().order_by("pk").values_list("pk", flat=True))
    for idp_id in ids:
        refresh_metadata.apply_async(args=[idp_id], headers=PUBLIC)
    logger.info("metadata refresh queued for %d identity provider(s)", len(ids))
    return len(ids)


@shared_task(bind=True, name="sso.refresh_metadata", autoretry_for=DB_ERRORS, retry_backoff=60, retry_jitter=True,
          max_retries=REFRESH_MAX_RETRIES)
def refresh_metadata(self, idp_id: int) -> str:  # noqa: ANN001 (Celery's bound task)
    """Fetch one IdP's metadata again. On failure the last good copy stays in use and the error is kept
    on the IdP (the service does both); the task then tries again later with a growing delay.

    idp_metadata_refresh reports failure as False without saying why, so a bad document is retried as
    well as an unreachable URL: a few extra GETs a day, never a changed configuration.
    """
    idp = IdentityProvider.objects.select_related("tenant").filter(
        pk=idp_id, source=IdentityProvider.Source.URL).exclude(metadata_url="").first()
    if idp is None:
        return "skipped"  # reconfigured from a file or by hand since it was queued
    if idp_metadata_refresh(idp=idp):
        return "refreshed"
    if self.request.retries >= REFRESH_MAX_RETRIES:
        return "failed"
    delay = REFRESH_RETRY_BASE_SECONDS * 2 ** self.request.retries
    raise self.retry(countdown=delay + random.randint(0, delay // 4), max_retries=REFRESH_MAX_RETRIES)


@shared_task(name="sso.warn_expiring_certificates", autoretry_for=DB_ERRORS, retry_backoff=60, retry_jitter=True,
          max_retries=5)
def warn_expiring_certificates() -> int:
    """E-mail each tenant's Client Administrators once per signing certificate about to expire."""
    sent = 0
    for certificate_id in list(certificates_to_warn().values_list("pk", flat=True)):
        if certificate_expiry_warn(certificate_id=certificate_id):
            sent += 1
    return sent


@shared_task(name="sso.purge_consumed_assertions", autoretry_for=DB_ERRORS, retry_backoff=60, retry_jitter=True,
          max_retries=5)
def purge_consumed_assertions() -> int:
    """Beat, hourly: forget consumed assertions that have expired (they are refused as expired anyway)."""
    from sso.replay import consumed_assertions_purge

    return consumed_assertions_purge()
