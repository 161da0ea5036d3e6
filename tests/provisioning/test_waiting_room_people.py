"""The people around the Waiting Room: who waits, a pre-filled New User request, "Ask for access"."""
from __future__ import annotations

from datetime import timedelta

from django.core import mail
from django.utils import timezone

from outbox.models import OutboundEmail
from tenants.models import AuditEvent
from tests.provisioning.factories import member_create, new_user_request_create


def test_a_property_manager_sees_who_waits_and_which_one_has_a_request_with_support(acme, acme_pm, acme_waiting,
                                                                                   as_member):
    other = member_create(access_level="", properties=(), state="waiting_room", first_name="Olga", last_name="Other")
    new_user_request_create(email=other.email)
    html = as_member(acme_pm).get("/").content.decode().replace("<wbr>", "")
    assert "Waiting for access (2)" in html
    assert "Wanda Waiting" in html and acme_waiting.email in html and other.email in html
    assert html.count("Request with support") == 1
    assert f"/waiting/{acme_waiting.membership.pk}/request/" in html


def test_a_technician_neither_sees_the_waiting_list_nor_files_requests_for_it(acme, acme_tech, acme_waiting,
                                                                             as_member):
    client = as_member(acme_tech)
    assert acme_waiting.email not in client.get("/").content.decode()
    assert client.get(f"/waiting/{acme_waiting.membership.pk}/request/").status_code == 403


def test_one_click_opens_the_new_user_form_pre_filled_for_the_waiting_person(acme, acme_pm, acme_waiting, as_member):
    client = as_member(acme_pm)
    response = client.get(f"/waiting/{acme_waiting.membership.pk}/request/")
    assert response.status_code == 302
    assert response["Location"].startswith("/properties/harbour-view/manage/?waiting=")
    html = client.get(response["Location"]).content.decode()
    assert f'value="{acme_waiting.email}"' in html and 'value="Wanda"' in html and 'value="Waiting"' in html
    assert "who is in the Waiting Room" in html


def test_only_waiting_room_people_pre_fill_the_form(acme, acme_pm, acme_ca, as_member):
    html = as_member(acme_pm).get(f"/properties/harbour-view/manage/?waiting={acme_ca.membership.pk}").content.decode()
    assert acme_ca.email not in html.split("New User")[1].split("</form>")[0]


def test_ask_for_access_emails_the_property_managers_and_says_so(acme, acme_pm, acme_ca, acme_waiting, as_member,
                                                                django_capture_on_commit_callbacks, eager_tasks):
    client = as_member(acme_waiting)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/waiting-room/ask/", follow=True)
    html = response.content.decode()
    assert "We e-mailed 1 person at Acme Property Management who can give you access" in html
    assert "You asked for access on" in html
    sent = [m for m in mail.outbox if m.to == [acme_pm.email]]
    assert len(sent) == 1 and "Wanda Waiting is waiting for access" in sent[0].subject
    assert f"/waiting/{acme_waiting.membership.pk}/request/" in sent[0].body
    assert AuditEvent.objects.filter(action="waiting_room.access_ask", target=acme_waiting.email).count() == 1


def test_asking_again_within_the_hour_sends_nothing_and_says_when_they_can(acme, acme_pm, acme_waiting, as_member):
    client = as_member(acme_waiting)
    client.post("/waiting-room/ask/")
    html = client.post("/waiting-room/ask/", follow=True).content.decode()
    assert "You asked already" in html and "You can ask again after" in html
    assert OutboundEmail.objects.filter(kind="waiting_room.access_ask").count() == 1


def test_asking_is_possible_again_after_the_hour(acme, acme_pm, acme_waiting, as_member):
    client = as_member(acme_waiting)
    client.post("/waiting-room/ask/")
    AuditEvent.objects.filter(action="waiting_room.access_ask").update(created=timezone.now() - timedelta(hours=2))
    client.post("/waiting-room/ask/")
    assert OutboundEmail.objects.filter(kind="waiting_room.access_ask").count() == 2


def test_ask_for_access_goes_to_client_administrators_where_there_is_no_property_manager(
        acme, acme_ca, acme_waiting, as_member):
    as_member(acme_waiting).post("/waiting-room/ask/")
    assert OutboundEmail.objects.get(kind="waiting_room.access_ask").to == [acme_ca.email]


def test_an_active_member_cannot_ask_for_access(acme, acme_pm, acme_tech, as_member):
    html = as_member(acme_tech).post("/waiting-room/ask/", follow=True).content.decode()
    assert not OutboundEmail.objects.filter(kind="waiting_room.access_ask").exists()
    assert "Welcome" in html  # sent home: they have access already


def test_email_addresses_in_lists_wrap_after_at_and_dots_only(acme, acme_pm, acme_waiting, as_member):
    html = as_member(acme_pm).get("/").content.decode()
    local, domain = acme_waiting.email.split("@")
    assert f"{local}<wbr>@acme.<wbr>example" in html


def test_the_requester_withdraws_a_pending_request_and_it_is_audited(acme, acme_pm, acme_waiting, as_member):
    row = new_user_request_create(email=acme_waiting.email)
    type(row).objects.filter(pk=row.pk).update(requested_by_user_id=acme_pm.pk)
    client = as_member(acme_pm)
    assert "Withdraw" in client.get("/properties/harbour-view/manage/").content.decode()
    html = client.post(f"/requests/{row.pk}/withdraw/", {"next": "/properties/harbour-view/manage/"},
                       follow=True).content.decode()
    assert "You withdrew the request for" in html
    row.refresh_from_db()
    assert row.status == "withdrawn"
    assert AuditEvent.objects.filter(action="new_user_request.withdraw", target=row.email).exists()
    waiting_html = as_member(acme_waiting).get("/waiting-room/").content.decode()
    assert "withdrew the request" in waiting_html and "Ask for access" in waiting_html


def test_someone_else_cannot_withdraw_a_request_nor_a_decided_one(acme, acme_pm, acme_waiting, as_member):
    other_pm = member_create(first_name="Other", last_name="Pm")
    row = new_user_request_create(email=acme_waiting.email)
    type(row).objects.filter(pk=row.pk).update(requested_by_user_id=acme_pm.pk)
    as_member(other_pm).post(f"/requests/{row.pk}/withdraw/")
    row.refresh_from_db()
    assert row.status == "pending"
    type(row).objects.filter(pk=row.pk).update(status="rejected")
    html = as_member(acme_pm).post(f"/requests/{row.pk}/withdraw/", follow=True).content.decode()
    assert "rejected already" in html
