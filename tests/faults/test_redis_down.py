"""Redis stops under a real web process (gunicorn, production settings) and a real Celery worker,
both on a private redis-server this test starts: sign-in refuses cleanly, an approval made meanwhile
waits in the outbox and is sent once Redis is back, and neither process is restarted."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from outbox.models import OutboundEmail
from outbox.services import emails_queue_lost
from sso.models import ConsumedAssertion, SignInAttempt
from support.models import NewUserRequest
from tests.conftest import staff_totp_enrol, totp_code
from tests.faults.conftest import WebServer, celery_broker, wait_until, worker_start
from tests.provisioning.factories import new_user_request_create, unique_email

pytestmark = [pytest.mark.faults, pytest.mark.worker]



def _acme_user_exists(email: str) -> bool:
    with schema_context("acme"):
        return get_user_model().objects.filter(email=email).exists()


def test_redis_down_refuses_sign_in_keeps_approvals_in_the_outbox_and_recovers_without_restarts(
        committed_db, private_redis, smtp_sink, web_servers, tmp_path):
    broker = private_redis.url(0)
    web = WebServer(tmp_path / "web.log", REDIS_URL=broker)
    web_servers.append(web)
    web.start()
    worker = worker_start(broker=broker, smtp_url=smtp_sink.url, log_path=tmp_path / "worker.log", name="redis-down")
    try:
        # Support staff sign in to Django admin while everything is up.
        password = "a-long-password-for-this-test-only"
        staff = get_user_model().objects.create_superuser(username=unique_email("staff"), password=password)
        admin = web.browser("localhost")
        signed_in = admin.csrf_post("/admin/login/", {"username": staff.username, "password": password,
                                                      "next": "/admin/"})
        assert signed_in.status_code == 302, signed_in.text[:500]
        # Then the code of their authenticator (the admin opens only with a verified second factor).
        device = staff_totp_enrol(staff)
        verified = admin.csrf_post("/admin/2fa/", {"otp_token": totp_code(device)})
        assert verified.status_code == 302, verified.text[:500]
        pending = new_user_request_create(email=unique_email("outage"))
        first_id = (OutboundEmail.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)

        # A sign-in works, then another one is under way at the IdP when Redis stops.
        before = web.browser("acme.localhost")
        assert before.sign_in(unique_email("before")).status_code == 302
        person = unique_email("during")
        browser = web.browser("acme.localhost")
        acs_path, fields = browser.sign_in_start(person)
        consumed_before = ConsumedAssertion.objects.count()

        private_redis.stop()

        refused = browser.acs_post(acs_path, fields)
        assert refused.status_code == 503, (refused.status_code, refused.text[:800], web.log())
        assert refused.headers["Retry-After"] == "60" and "Traceback" not in refused.text
        assert "Sign-in is unavailable for a moment" in refused.text
        assert "sessionid" not in refused.cookies
        assert ConsumedAssertion.objects.count() == consumed_before  # nothing consumed
        assert not _acme_user_exists(person)  # nobody provisioned
        attempt = SignInAttempt.objects.filter(code="replay_store_unavailable").order_by("-created", "-id").first()
        assert attempt is not None and attempt.reference in refused.text

        # Support staff approve meanwhile: the admin works from PostgreSQL alone (sessions and tenant
        # routing fall back to it); the e-mails wait in the outbox, their send task could not be queued.
        approve = f"/admin/support/newuserrequest/{pending.pk}/approve/"
        approved = admin.csrf_post(approve, {})
        assert approved.status_code == 302, (approved.status_code, approved.text[:800], web.log())
        assert NewUserRequest.objects.get(pk=pending.pk).status == "approved"
        owed = list(OutboundEmail.objects.filter(pk__gt=first_id, tenant__slug="acme")
                    .values_list("pk", "to", "sent_at"))
        assert owed and all(sent_at is None for _pk, _to, sent_at in owed)

        private_redis.start()  # empty: a non-persistent Redis lost the cache, queues and counters

        # The beat's sweeper re-queues what the outage kept from the queue; the same worker sends it.
        with celery_broker(broker):
            assert emails_queue_lost(older_than=timedelta(0)) >= len(owed)
        ids = [pk for pk, _to, _sent in owed]
        assert wait_until(lambda: not OutboundEmail.objects.filter(pk__in=ids, sent_at__isnull=True).exists()), \
            (tmp_path / "worker.log").read_text()[-3000:]
        for _pk, to, _sent in owed:
            assert len(smtp_sink.wait_for(to[0], count=1)) == 1  # once each

        # The same web process signs people in again: the refused response was never consumed.
        accepted = browser.acs_post(acs_path, fields)
        assert accepted.status_code == 302 and accepted.cookies.get("sessionid"), (accepted.status_code,
                                                                                   accepted.text[:800])
        me = browser.get("/api/me")
        assert me.status_code == 200 and person in me.text
        assert worker.poll() is None and web.proc.poll() is None  # neither was restarted
    finally:
        worker.terminate()
        worker.wait(timeout=15)
