"""Celery tasks of the outbox: send one e-mail, and the sweeper that re-queues lost ones."""
from __future__ import annotations

from celery import shared_task

from outbox.services import RETRYABLE_SEND_ERRORS, emails_queue_lost, outbound_email_send


@shared_task(
    name="outbox.email_send",
    autoretry_for=RETRYABLE_SEND_ERRORS,
    retry_backoff=30,  # 30 s, 60 s, 120 s ... capped below
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=8,
)
def email_send(outbound_email_id: int) -> str:
    """Send an outbox.OutboundEmail once.

    The row lives in the public schema, so this task takes only its id and is always queued for
    the public schema (see outbox.services); it is idempotent through the row's sent_at.
    """
    return outbound_email_send(outbound_email_id=outbound_email_id)


@shared_task(name="outbox.email_sweep")
def email_sweep() -> int:
    """Beat, every few minutes: nothing owed is lost to a broker outage (see emails_queue_lost)."""
    return emails_queue_lost()
