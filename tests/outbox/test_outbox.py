"""E-mails: written in the deciding transaction, sent by a real Celery worker after it commits, once."""
from __future__ import annotations

import socket
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import transaction
from django_tenants.utils import schema_context

from outbox.models import OutboundEmail
from outbox.services import email_queue, outbound_email_send
from outbox.tasks import email_send
from provisioning.models import Membership
from support.models import NewUserRequest
from support.services import new_user_request_approve
from tenants.models import Tenant
from tests.provisioning.factories import new_user_request_create, unique_email

PUBLIC = {"_schema_name": "public"}


def _support_staff():
    name = f"staff-{uuid.uuid4().hex[:8]}"
    return get_user_model().objects.create_user(username=name, email=f"{name}@portico.example", is_staff=True)


def _drain(timeout: float = 30) -> None:
    """Wait until the worker has run everything queued before (the worker takes tasks one by one, in order)."""
    from tests.worker_tasks import schema_probe

    assert schema_probe.apply_async(headers=PUBLIC).get(timeout=timeout)["schema"] == "public"


@pytest.mark.worker
def test_the_approval_email_is_delivered_by_a_real_celery_worker(committed_db, celery_worker, smtp_sink):
    email = unique_email("approved")
    requester = unique_email("requester")
    row = new_user_request_create(email=email, requested_by_email=requester)
    new_user_request_approve(new_user_request=row, actor=_support_staff())

    [message] = smtp_sink.wait_for(email)
    assert message["Subject"] == "You can now sign in to Acme Property Management on Portico"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "http://acme.localhost:8000/login/" in text and 'href="http://acme.localhost:8000/login/"' in html
    assert "Technician" in text and "Harbour View" in text
    [to_requester] = smtp_sink.wait_for(requester)
    assert to_requester["Subject"] == f"Approved: access for {email}"
    _drain()
    sent = OutboundEmail.objects.get(kind="member.access_granted", to=[email])
    assert sent.sent_at is not None and sent.attempts == 1


@pytest.mark.worker
def test_an_email_task_delivered_twice_sends_the_email_once(committed_db, celery_worker, smtp_sink):
    address = unique_email("twice")
    with transaction.atomic():
        row = email_queue(tenant=Tenant.objects.get(slug="acme"), kind="test.twice", to=[address],
                          template="new_user_request_rejected",
                          context={"request": NewUserRequest(email="x@acme.example", rejection_reason="r"),
                                   "access_level_label": "Technician"})
    task_id = str(uuid.uuid4())
    email_send.apply_async(args=[row.pk], headers=PUBLIC, task_id=task_id)
    email_send.apply_async(args=[row.pk], headers=PUBLIC, task_id=task_id)  # the broker redelivers it
    assert email_send.apply_async(args=[row.pk], headers=PUBLIC).get(timeout=30) == "already_sent"
    assert len(smtp_sink.wait_for(address, count=2, timeout=2)) == 1
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1


@pytest.mark.worker
def test_no_email_is_written_or_sent_when_the_approval_rolls_back(committed_db, celery_worker, smtp_sink):
    email = unique_email("rolledback")
    requester = unique_email("rb-requester")
    row = new_user_request_create(email=email, requested_by_email=requester)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        new_user_request_approve(new_user_request=row, actor=_support_staff())
        raise Boom
    _drain()
    assert smtp_sink.to(email) == [] and smtp_sink.to(requester) == []
    assert not OutboundEmail.objects.filter(to__contains=[email]).exists()
    assert not OutboundEmail.objects.filter(to__contains=[requester]).exists()
    row.refresh_from_db()
    assert row.status == NewUserRequest.Status.PENDING
    with schema_context("acme"):
        assert not Membership.objects.filter(user__username=email).exists()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_smtp_server_is_recorded_and_the_task_retries(acme, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _closed_port(), 2
    row = email_queue(tenant=acme, kind="test.retry", to=["retry@acme.example"], template="access_granted",
                      context={"access_level_label": "Technician", "sign_on_url": "http://x/login/"})
    with pytest.raises(OSError):
        outbound_email_send(outbound_email_id=row.pk)
    row.refresh_from_db()
    assert row.sent_at is None and row.attempts == 1 and "Connection" in row.last_error
    # Run eagerly, Celery performs each retry at once (no countdown) until max_retries, then gives up.
    result = email_send.apply(args=[row.pk], headers=PUBLIC)
    assert result.state == "FAILURE" and isinstance(result.result, OSError)
    row.refresh_from_db()
    assert row.attempts == 1 + 1 + email_send.max_retries and row.sent_at is None
    assert email_send.retry_backoff and email_send.retry_backoff_max and OSError in email_send.autoretry_for
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert email_send.apply(args=[row.pk], headers=PUBLIC).get() == "sent"
    assert [m.to for m in mail.outbox] == [["retry@acme.example"]]
    row.refresh_from_db()
    assert row.sent_at is not None and row.last_error == ""


def test_email_queue_renders_text_and_html_and_dedupes_by_key(acme, django_capture_on_commit_callbacks):
    context = {"access_level_label": "Technician", "sign_on_url": "http://acme.localhost:8000/login/",
               "first_name": "O'Brien", "email": "ob@acme.example"}
    with django_capture_on_commit_callbacks() as callbacks:
        first = email_queue(tenant=acme, kind="test.dedupe", to=[" ob@acme.example ", "ob@acme.example"],
                            template="access_granted", context=context, dedupe_key="test:dedupe:1")
        second = email_queue(tenant=acme, kind="test.dedupe", to=["ob@acme.example"], template="access_granted",
                             context=context, dedupe_key="test:dedupe:1")
    assert second is None and len(callbacks) == 1
    assert first.to == ["ob@acme.example"]
    assert first.subject == "You can now sign in to Acme Property Management on Portico"
    assert "Hello O'Brien" in first.body_text  # plain text is not HTML-escaped
    assert "O&#x27;Brien" in first.body_html
    assert email_queue(tenant=acme, kind="test.none", to=[], template="access_granted", context=context) is None


def test_email_queue_takes_the_subject_from_the_context_without_a_subject_template(acme, tmp_path, settings):
    (tmp_path / "emails").mkdir()
    (tmp_path / "emails" / "plain_only.txt").write_text("Body for {{ tenant_name }}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    row = email_queue(tenant=acme, kind="test.subject", to=["s@acme.example"], template="plain_only",
                      context={"subject": "Certificate\nexpires soon"})
    assert row.subject == "Certificate expires soon"
    assert row.body_text == "Body for Acme Property Management" and row.body_html == ""


@pytest.mark.worker
def test_the_sweeper_sends_an_email_whose_task_was_lost(committed_db, celery_worker, smtp_sink):
    from datetime import timedelta

    from django.utils import timezone

    from outbox.tasks import email_sweep

    address = unique_email("lost")
    # As if the broker was down when the decision committed: the row exists, no task ever ran.
    row = OutboundEmail.objects.create(kind="test.lost", to=[address], subject="Lost and found", body_text="hello")
    OutboundEmail.objects.filter(pk=row.pk).update(created=timezone.now() - timedelta(minutes=30))
    assert email_sweep.apply_async(headers=PUBLIC).get(timeout=30) >= 1
    [message] = smtp_sink.wait_for(address)
    assert message["Subject"] == "Lost and found"
    _drain()
    row.refresh_from_db()
    assert row.sent_at is not None


def test_the_rejection_email_links_the_manage_page_of_the_property(acme, support_user,
                                                                  django_capture_on_commit_callbacks):
    from outbox.models import OutboundEmail
    from support.services import new_user_request_reject
    from tests.provisioning.factories import new_user_request_create

    row = new_user_request_create()
    new_user_request_reject(new_user_request=row, actor=support_user, reason="Wrong person")
    sent = OutboundEmail.objects.get(kind="new_user_request.rejected")
    assert "http://acme.localhost:8000/properties/harbour-view/manage/" in sent.body_text
    assert 'href="http://acme.localhost:8000/properties/harbour-view/manage/"' in sent.body_html
