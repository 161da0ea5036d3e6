"""The outbox: e-mails Portico owes people, in the public schema whichever tenant decided them."""
from __future__ import annotations

from django.db import models

from tenants.models import Tenant


class OutboundEmail(models.Model):
    """An e-mail Portico owes someone. Written in the transaction that decided to send it; the
    Celery task sends it and stamps sent_at, so a task delivered twice sends it once."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=64)
    to = models.JSONField(default=list)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Callers that may decide the same thing twice (e.g. a daily certificate-expiry check) pass a
    # key; a second e-mail with the same key is not written.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    # Credentials the e-mail carries (a set-up link), encrypted (outbox.sealing); the bodies hold
    # placeholders, filled in only in the message handed to the mail server, and this is cleared
    # once it is sent. Never shown in admin.
    sealed = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.kind} to {', '.join(self.to)}"
