"""E-mails Portico owes people: written as outbox.OutboundEmail rows, sent by a Celery task.

A caller decides to send an e-mail inside its own transaction (`email_queue`); the row is part of
that transaction and the send task is queued only once it commits, so a rolled-back decision
sends nothing. The task locks the row and stamps `sent_at`, so a task delivered twice sends once.

Templates, for `template="name"`:
  templates/emails/name.subject.txt  one line (falls back to context["subject"])
  templates/emails/name.txt          plain-text body (required)
  templates/emails/name.html         HTML alternative (optional)
Every template also gets `tenant`, `tenant_name` and `portico_base_url`.
"""
from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Sequence
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone

from outbox import sealing
from outbox.models import OutboundEmail
from tenants.models import Tenant
from tenants.types import Actor

logger = logging.getLogger("portico.email")

# Worth another try later: the SMTP server refused or was unreachable (OSError covers refused
# connections, timeouts and DNS failures).
RETRYABLE_SEND_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError)

# E-mails that carry a credential (a one-time sign-in link): once delivered, the stored copy is
# blanked so the outbox in Django admin never shows a usable link.
REDACTED_AFTER_SENDING = frozenset({"setup_link"})
REDACTED_BODY = "[Removed after sending: this e-mail carried a one-time sign-in link.]"


def _render_subject(template: str, context: dict) -> str:
    try:
        subject: str = render_to_string(f"emails/{template}.subject.txt", context)
    except TemplateDoesNotExist:
        subject = str(context.get("subject") or "")
    subject = " ".join(subject.split())  # a header must be one line
    if not subject:
        raise ValueError(f"E-mail template {template!r} has no subject: add emails/{template}.subject.txt.")
    return subject[:300]


def _render_html(template: str, context: dict) -> str:
    try:
        return render_to_string(f"emails/{template}.html", context)
    except TemplateDoesNotExist:
        return ""


def email_queue(
    *,
    tenant: Tenant | None,
    kind: str,
    to: Sequence[str],
    template: str,
    context: dict,
    dedupe_key: str | None = None,
    sealed: dict[str, str] | None = None,
) -> OutboundEmail | None:
    """Write an e-mail and queue its sending for when the current transaction commits.

    `sealed`: context values that are credentials (a set-up link's URL). The stored bodies get a
    placeholder instead; the values are kept encrypted and filled in only at sending (outbox.sealing).

    Returns None when there is nobody to send to, or when an e-mail with the same `dedupe_key`
    was written before (that one stands; this one is not written).
    """
    recipients = list(dict.fromkeys(address.strip() for address in to if address and address.strip()))
    if not recipients:
        logger.info("e-mail %s for tenant %s not queued: no recipients", kind, getattr(tenant, "slug", "-"))
        return None
    if dedupe_key and OutboundEmail.objects.filter(dedupe_key=dedupe_key).exists():
        return None
    full_context = {
        "tenant": tenant,
        "tenant_name": tenant.name if tenant is not None and not tenant.is_public else "Portico",
        "portico_base_url": settings.PORTICO_BASE_URL,
        **context,
        **{name: sealing.placeholder(name) for name in (sealed or {})},
    }
    subject = _render_subject(template, full_context)
    body_text = render_to_string(f"emails/{template}.txt", full_context)
    body_html = _render_html(template, full_context)
    try:
        with transaction.atomic():  # a savepoint: a duplicate key must not spoil the caller's transaction
            row = OutboundEmail.objects.create(
                tenant=tenant if tenant is not None and not tenant.is_public else None,
                kind=kind[:64], to=recipients, subject=subject, body_text=body_text, body_html=body_html,
                dedupe_key=dedupe_key or None, sealed=sealing.seal(sealed or {}),
            )
    except IntegrityError:
        if dedupe_key:  # another process wrote the same e-mail a moment ago
            return None
        raise
    # robust: the decision is committed by then; a broker outage must not turn it into an error
    # page. The row stays unsent and support can queue it again from the admin.
    transaction.on_commit(_send_task_queue_later(row.pk), robust=True)
    return row


def _send_task_queue_later(outbound_email_id: int) -> Callable[[], None]:
    """The on_commit callback, as a function: Django's robust on_commit logs a failure with the
    callable's __qualname__, which functools.partial lacks, so a broker outage became an
    AttributeError and a 500 instead of a logged line (tests/faults/test_redis_down.py)."""
    def send_task_queue() -> None:
        _send_task_queue(outbound_email_id)

    return send_task_queue


def _send_task_queue(outbound_email_id: int) -> None:
    from outbox.tasks import email_send

    # OutboundEmail lives in the public schema, whichever tenant's request decided to send it.
    # ignore_result: the row records the outcome; subscribing to the result would make a web request
    # wait out the result backend's 20 reconnects while Redis is down, then leave that process's
    # result consumer broken for good (celery.backends.asynchronous, "must be restarted").
    email_send.apply_async(args=[outbound_email_id], headers={"_schema_name": "public"}, ignore_result=True)


def emails_queue_again(*, outbound_email_ids: Sequence[int]) -> int:
    """Queue the send task again for e-mails not sent yet (e.g. after a broker outage)."""
    ids = list(
        OutboundEmail.objects.filter(pk__in=list(outbound_email_ids), sent_at__isnull=True).values_list("pk", flat=True)
    )
    for pk in ids:
        transaction.on_commit(_send_task_queue_later(pk))
    return len(ids)


def emails_queue_lost(*, older_than: timedelta = timedelta(minutes=10)) -> int:
    """Queue again e-mails whose send task never ran (the broker was down when their decision
    committed): never attempted and older than `older_than`. Sending stays idempotent."""
    stale = OutboundEmail.objects.filter(
        sent_at__isnull=True, attempts=0, created__lt=timezone.now() - older_than
    ).values_list("pk", flat=True)
    return emails_queue_again(outbound_email_ids=list(stale))


def outbound_email_send(*, outbound_email_id: int) -> str:
    """Send one e-mail unless it was sent already; `sent`, `already_sent` or `missing`.

    The row stays locked while the SMTP server takes the message, so two deliveries of the task
    cannot both send it. A failure to reach the server is recorded on the row and raised again,
    for the task to retry.
    """
    failure: BaseException | None = None
    with transaction.atomic():
        row = OutboundEmail.objects.select_for_update().filter(pk=outbound_email_id).first()
        if row is None:
            return "missing"
        if row.sent_at is not None:
            return "already_sent"
        row.attempts += 1
        try:
            secrets_ = sealing.unseal(row.sealed)
        except sealing.SealBroken as exc:  # not worth retrying: no later attempt can read it either
            row.last_error = str(exc)
            row.save(update_fields=["attempts", "last_error"])
            logger.error("e-mail #%s not sent: %s", row.pk, exc)
            return "unsealable"
        message = EmailMultiAlternatives(
            subject=row.subject, body=sealing.fill(row.body_text, secrets_), from_email=settings.DEFAULT_FROM_EMAIL,
            to=list(row.to),
        )
        if row.body_html:
            message.attach_alternative(sealing.fill(row.body_html, secrets_, html=True), "text/html")
        try:
            message.send()
        except RETRYABLE_SEND_ERRORS as exc:
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            row.save(update_fields=["attempts", "last_error"])
            failure = exc
        else:
            row.sent_at = timezone.now()
            row.last_error = ""
            if row.kind in REDACTED_AFTER_SENDING:
                row.body_text, row.body_html = REDACTED_BODY, ""
            row.sealed = ""
            row.save(update_fields=["attempts", "last_error", "sent_at", "body_text", "body_html", "sealed"])
            logger.info("e-mail %s #%s sent to %s", row.kind, row.pk, ", ".join(row.to))
            return "sent"
    logger.warning("e-mail #%s not sent (attempt %s): %s", outbound_email_id, row.attempts, failure)
    raise failure


class ResendRefused(ValueError):
    """This e-mail cannot be sent again (its one-time content was removed after sending)."""


def outbound_email_resend(*, outbound_email_id: int, actor: Actor) -> OutboundEmail:
    """Send an e-mail of the outbox again, as a new outbox row (the original stays the record of
    the first sending). Idempotent: while an earlier resend of it is still unsent, that one is
    returned and nothing new is written. Audited in the same transaction."""
    from tenants.services import audit_record

    with transaction.atomic():
        original = OutboundEmail.objects.select_for_update().filter(pk=outbound_email_id).first()
        if original is None:
            raise ResendRefused(f"E-mail #{outbound_email_id} does not exist.")
        if original.body_text == REDACTED_BODY:
            raise ResendRefused("This e-mail carried a one-time set-up link, removed after sending: "
                                "send a new set-up link from the tenant's page instead.")
        if original.sent_at is None:
            emails_queue_again(outbound_email_ids=[original.pk])
            return original
        waiting = OutboundEmail.objects.filter(dedupe_key__startswith=f"resend:{original.pk}:",
                                               sent_at__isnull=True).first()
        if waiting is not None:
            return waiting
        count = OutboundEmail.objects.filter(dedupe_key__startswith=f"resend:{original.pk}:").count()
        copy = OutboundEmail.objects.create(
            tenant=original.tenant, kind=original.kind, to=list(original.to), subject=original.subject,
            body_text=original.body_text, body_html=original.body_html, dedupe_key=f"resend:{original.pk}:{count + 1}",
        )
        audit_record(actor=actor, action="outbound_email.resend", tenant=original.tenant, target=", ".join(original.to),
                     data={"email_id": original.pk, "resent_as": copy.pk, "kind": original.kind})
        transaction.on_commit(_send_task_queue_later(copy.pk), robust=True)
    return copy
