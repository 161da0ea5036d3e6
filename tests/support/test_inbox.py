"""The support inbox in Django admin: pending count, columns, confirmations in words, undo, resend."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from outbox.models import OutboundEmail
from outbox.services import REDACTED_BODY
from support.models import NewUserRequest
from tenants.models import AuditEvent
from tests.provisioning.factories import member_create, membership_find, new_user_request_create

CHANGELIST = "/admin/support/newuserrequest/"


def test_the_admin_index_shows_how_many_requests_wait(acme, support_client):
    new_user_request_create()
    new_user_request_create()
    html = support_client.get("/admin/").content.decode()
    assert "Support inbox" in html and "2 New User requests waiting for a decision" in html


def test_the_queue_shows_requested_by_waiting_since_and_signed_in_already(acme, support_client):
    waiting = member_create(access_level="", properties=(), state="waiting_room")
    new_user_request_create(email=waiting.email)
    new_user_request_create()
    html = support_client.get(CHANGELIST).content.decode()
    assert "Support inbox: New User requests" in html and "Select new user request" not in html
    for column in ("Requested by", "Waiting since", "Signed in already", "Access asked for"):
        assert column in html
    assert "Pete Manager" in html and "Yes, in the Waiting Room" in html and ">No<" in html


def test_approve_asks_for_confirmation_saying_in_words_what_changes(acme, support_client):
    waiting = member_create(access_level="", properties=(), state="waiting_room")
    row = new_user_request_create(email=waiting.email)
    html = support_client.get(f"{CHANGELIST}{row.pk}/approve/").content.decode()
    assert "leaves the Waiting Room" in html and "They get Technician access." in html
    assert "They get access to Harbour View." in html and "undo this for 15 minutes" in html
    row.refresh_from_db()
    assert row.status == "pending"  # looking at the confirmation changes nothing


def test_the_decision_is_described_with_property_names_not_codes(acme, support_client):
    row = new_user_request_create()
    support_client.post(f"{CHANGELIST}{row.pk}/approve/")
    html = support_client.get(f"{CHANGELIST}{row.pk}/change/").content.decode()
    assert "Harbour View" in html and "[&#x27;harbour-view&#x27;]" not in html and "['harbour-view']" not in html
    assert "Access level" in html and "Technician" in html


def test_an_approval_is_undone_within_the_window_and_the_request_is_pending_again(acme, support_client):
    waiting = member_create(access_level="", properties=(), state="waiting_room")
    row = new_user_request_create(email=waiting.email)
    support_client.post(f"{CHANGELIST}{row.pk}/approve/")
    assert membership_find(waiting.email).state == "active"
    assert "Undo approval" in support_client.get(f"{CHANGELIST}{row.pk}/change/").content.decode()
    html = support_client.post(f"{CHANGELIST}{row.pk}/undo/", follow=True).content.decode()
    assert "Approval undone" in html
    m = membership_find(waiting.email)
    assert (m.state, m.access_level, m.property_codes) == ("waiting_room", "", set())
    row.refresh_from_db()
    assert row.status == "pending"
    assert AuditEvent.objects.filter(action="new_user_request.undo", target=row.email).exists()
    assert OutboundEmail.objects.filter(kind="new_user_request.undone", to=[row.email]).exists()
    # approving again e-mails again
    support_client.post(f"{CHANGELIST}{row.pk}/approve/")
    assert OutboundEmail.objects.filter(kind="member.access_granted", to=[row.email]).count() == 2


def test_an_approval_for_someone_who_never_signed_in_is_undone_by_removing_the_new_account(acme, support_client):
    row = new_user_request_create()
    support_client.post(f"{CHANGELIST}{row.pk}/approve/")
    support_client.post(f"{CHANGELIST}{row.pk}/undo/")
    assert membership_find(row.email) is None


def test_an_approval_cannot_be_undone_after_the_window(acme, support_client):
    row = new_user_request_create()
    support_client.post(f"{CHANGELIST}{row.pk}/approve/")
    NewUserRequest.objects.filter(pk=row.pk).update(decided_at=timezone.now() - timedelta(hours=1))
    assert f"{row.pk}/undo/" not in support_client.get(f"{CHANGELIST}{row.pk}/change/").content.decode()
    html = support_client.post(f"{CHANGELIST}{row.pk}/undo/", follow=True).content.decode()
    assert "can be undone for 15 minutes only" in html
    assert membership_find(row.email).state == "active"


def test_any_sent_email_can_be_sent_again_once_and_it_is_audited(acme, support_client):
    from outbox.services import email_queue

    email = email_queue(tenant=acme, kind="test", to=["x@acme.example"], template="access_removed", context={})
    OutboundEmail.objects.filter(pk=email.pk).update(sent_at=timezone.now())
    for _ in range(2):  # idempotent while the copy is unsent
        support_client.post("/admin/outbox/outboundemail/", {"action": "resend_selected",
                                                              "_selected_action": [email.pk]})
    copies = OutboundEmail.objects.filter(dedupe_key__startswith=f"resend:{email.pk}:")
    assert copies.count() == 1 and copies.get().to == ["x@acme.example"]
    assert AuditEvent.objects.filter(action="outbound_email.resend").count() == 1


def test_a_redacted_setup_link_email_is_not_sent_again(acme, support_client):
    row = OutboundEmail.objects.create(tenant=acme, kind="setup_link", to=["a@acme.example"], subject="Set up",
                                       body_text=REDACTED_BODY, sent_at=timezone.now())
    html = support_client.post("/admin/outbox/outboundemail/", {"action": "resend_selected",
                                                                 "_selected_action": [row.pk]},
                               follow=True).content.decode()
    assert "send a new set-up link" in html
    assert OutboundEmail.objects.count() == 1
