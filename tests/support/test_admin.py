"""Support staff decide New User requests in Django admin on the public host."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_tenants.utils import schema_context

from outbox.models import OutboundEmail
from provisioning.models import AccessLevel, Membership
from provisioning.services import user_provision_from_assertion
from support.models import NewUserRequest
from tenants.models import AuditEvent
from tests.provisioning.factories import membership_find, new_user_request_create

CHANGELIST = "/admin/support/newuserrequest/"


def test_the_queue_lists_requests_of_every_tenant_with_filters_and_search(acme, globex, support_client):
    a = new_user_request_create(email="queue.a@acme.example")
    g = new_user_request_create(tenant="globex", email="queue.g@globex.example", properties=("globex-tower",),
                                requested_by_email="gil@globex.example")
    old = new_user_request_create(email="queue.old@acme.example")
    NewUserRequest.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=10))
    html = support_client.get(CHANGELIST).content.decode()
    assert "queue.a@acme.example" in html and "queue.g@globex.example" in html
    assert f"?tenant={acme.pk}" in html and f"?tenant={globex.pk}" in html  # the tenant filter
    by_tenant = support_client.get(CHANGELIST, {"tenant": globex.pk}).content.decode()
    assert "queue.g@globex.example" in by_tenant and "queue.a@acme.example" not in by_tenant
    pending = support_client.get(CHANGELIST, {"status__exact": "pending"}).content.decode()
    assert "queue.a@acme.example" in pending
    assert "queue.a@acme.example" not in support_client.get(CHANGELIST, {"status__exact": "approved"}).content.decode()
    older = support_client.get(CHANGELIST, {"age": "older"}).content.decode()
    assert "queue.old@acme.example" in older and "queue.a@acme.example" not in older
    fresh = support_client.get(CHANGELIST, {"age": "day"}).content.decode()
    assert "queue.a@acme.example" in fresh and "queue.old@acme.example" not in fresh
    found = support_client.get(CHANGELIST, {"q": "QUEUE.G@"}).content.decode()
    assert "queue.g@globex.example" in found and "queue.a@acme.example" not in found
    assert a.pk and g.pk


def test_approving_one_request_grants_its_access_in_the_tenant_schema_and_queues_the_emails(
        acme, support_client, support_user, django_capture_on_commit_callbacks, eager_tasks):
    row = new_user_request_create(email="approve.me@acme.example", access_level=AccessLevel.PROPERTY_MANAGER,
                                  properties=("harbour-view", "elm-court"))
    page = support_client.get(f"{CHANGELIST}{row.pk}/change/").content.decode()
    assert "Approve" in page and "Reject…" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(f"{CHANGELIST}{row.pk}/approve/")
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == NewUserRequest.Status.APPROVED
    assert row.decided_by == support_user and row.decided_by_label == "support:ana@portico.example"
    assert row.decided_at is not None
    assert row.decision_changes["user_created"] is True
    assert row.decision_changes["changes"]["access_level"] == ["", "property-manager"]
    membership = membership_find("approve.me@acme.example")
    assert membership.state == Membership.State.ACTIVE
    assert membership.access_level == AccessLevel.PROPERTY_MANAGER
    assert membership.property_codes == {"harbour-view", "elm-court"}
    assert membership.origin == Membership.Origin.REQUEST
    assert membership_find("approve.me@acme.example", tenant="globex") is None
    assert AuditEvent.objects.filter(action="new_user_request.approve", target=row.email,
                                     actor="support:ana@portico.example").exists()
    to_user = [m for m in mail.outbox if m.to == ["approve.me@acme.example"]]
    to_requester = [m for m in mail.outbox if m.to == ["pete.manager@acme.example"]]
    assert len(to_user) == 1 and len(to_requester) == 1
    assert "You can now sign in" in to_user[0].subject
    assert "http://acme.localhost:8000/login/" in to_user[0].body
    assert "Approved" in to_requester[0].subject
    # the decision is visible on the request
    page = support_client.get(f"{CHANGELIST}{row.pk}/change/").content.decode()
    assert "Approved" in page and "support:ana@portico.example" in page
    assert "created (the person had never signed in)" in page
    assert "New User request approved" in page and "new_user_request.approve" not in page  # audit trail in words
    assert "Reject…" not in page


def test_approving_a_waiting_room_user_lets_them_in(acme, support_client):
    with schema_context("acme"):
        user_provision_from_assertion(tenant=acme, email="in.the.room@acme.example", first_name="In")
    row = new_user_request_create(email="in.the.room@acme.example")
    support_client.post(f"{CHANGELIST}{row.pk}/approve/")
    membership = membership_find("in.the.room@acme.example")
    assert membership.state == Membership.State.ACTIVE and membership.access_level == "technician"
    row.refresh_from_db()
    assert row.decision_changes["user_created"] is False
    assert row.decision_changes["changes"]["state"] == ["waiting_room", "active"]


def test_rejecting_one_request_asks_for_a_reason_and_emails_the_requester(
        acme, support_client, django_capture_on_commit_callbacks, eager_tasks):
    row = new_user_request_create(email="reject.me@acme.example")
    url = f"{CHANGELIST}{row.pk}/reject/"
    page = support_client.get(url)
    assert page.status_code == 200 and "Reason for rejection" in page.content.decode()
    empty = support_client.post(url, {"reason": "  "})
    assert empty.status_code == 200 and "This field is required." in empty.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        support_client.post(url, {"reason": "Not one of your contractors."})
    row.refresh_from_db()
    assert row.status == NewUserRequest.Status.REJECTED
    assert row.rejection_reason == "Not one of your contractors."
    assert row.decided_by_label == "support:ana@portico.example" and row.decided_at is not None
    assert membership_find("reject.me@acme.example") is None
    [message] = mail.outbox
    assert message.to == ["pete.manager@acme.example"]
    assert "Not approved" in message.subject and "Not one of your contractors." in message.body
    page = support_client.get(f"{CHANGELIST}{row.pk}/change/").content.decode()
    assert "Rejected" in page and "Not one of your contractors." in page


def test_bulk_approve_decides_each_selected_request(acme, globex, support_client):
    rows = [new_user_request_create(email=f"bulk.{i}@acme.example") for i in range(2)]
    rows.append(new_user_request_create(tenant="globex", email="bulk.g@globex.example",
                                        properties=("globex-tower",)))
    confirm = support_client.post(CHANGELIST, {"action": "approve_selected", "_selected_action": [r.pk for r in rows]})
    assert "Approve 3 requests" in confirm.content.decode() and "They get Technician access." in confirm.content.decode()
    assert set(NewUserRequest.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True)) == {
        "pending"}  # the confirmation changes nothing
    response = support_client.post(CHANGELIST, {"action": "approve_selected", "apply": "1",
                                                "_selected_action": [r.pk for r in rows]}, follow=True)
    assert "Approved 3 requests." in response.content.decode()
    assert set(NewUserRequest.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True)) == {
        "approved"}
    assert membership_find("bulk.0@acme.example").state == Membership.State.ACTIVE
    assert membership_find("bulk.g@globex.example", tenant="globex").state == Membership.State.ACTIVE
    assert membership_find("bulk.g@globex.example", tenant="acme") is None


def test_bulk_reject_goes_through_a_reason_page(acme, support_client):
    rows = [new_user_request_create(email=f"nope.{i}@acme.example") for i in range(2)]
    ids = [r.pk for r in rows]
    page = support_client.post(CHANGELIST, {"action": "reject_selected", "_selected_action": ids})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Reason for rejection" in html and "nope.0@acme.example" in html and "Reject 2 requests" in html
    assert set(NewUserRequest.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"pending"}
    done = support_client.post(CHANGELIST, {"action": "reject_selected", "_selected_action": ids, "apply": "1",
                                            "reason": "Duplicate of an earlier request."}, follow=True)
    assert "Rejected 2 requests." in done.content.decode()
    assert set(NewUserRequest.objects.filter(pk__in=ids).values_list("rejection_reason", flat=True)) == {
        "Duplicate of an earlier request."}
    assert OutboundEmail.objects.filter(kind="new_user_request.rejected").count() == 2


def test_a_decided_request_is_not_decided_again(acme, support_client):
    row = new_user_request_create(email="once@acme.example")
    support_client.post(f"{CHANGELIST}{row.pk}/reject/", {"reason": "No."})
    response = support_client.post(f"{CHANGELIST}{row.pk}/approve/", follow=True)
    assert "was rejected already" in response.content.decode()
    row.refresh_from_db()
    assert row.status == NewUserRequest.Status.REJECTED
    assert membership_find("once@acme.example") is None
    bulk = support_client.post(CHANGELIST, {"action": "approve_selected", "apply": "1", "_selected_action": [row.pk]},
                               follow=True)
    assert "not approved: The request for once@acme.example was rejected already." in bulk.content.decode()


def test_the_admin_lives_only_on_the_public_host(acme, acme_client):
    assert acme_client.get("/admin/").status_code == 404


def test_outbound_emails_are_listed_read_only(acme, support_client):
    row = new_user_request_create(email="mail.log@acme.example")
    support_client.post(f"{CHANGELIST}{row.pk}/reject/", {"reason": "No."})
    page = support_client.get("/admin/outbox/outboundemail/")
    assert page.status_code == 200 and "Not approved: access for mail.log@acme.example" in page.content.decode()
    email = OutboundEmail.objects.get(kind="new_user_request.rejected", to=["pete.manager@acme.example"])
    detail = support_client.get(f"/admin/outbox/outboundemail/{email.pk}/change/").content.decode()
    assert 'name="subject"' not in detail  # nothing to edit
    found = support_client.get("/admin/outbox/outboundemail/", {"q": "pete.manager@acme"}).content.decode()
    assert "mail.log@acme.example" in found
    assert support_client.get("/admin/outbox/outboundemail/add/").status_code == 403


@pytest.mark.parametrize("path", [CHANGELIST, "/admin/support/newuserrequest/1/approve/"])
def test_only_staff_reach_the_queue(acme, public_client, path):
    response = public_client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
