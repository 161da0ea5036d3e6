"""Team Members as Client Administrators use it daily: states, actions, search, e-mails, history."""
from __future__ import annotations

from django.core import mail

from provisioning.models import AccessLevel, Membership
from tests.provisioning.factories import member_create, property_ids


def test_a_removed_person_is_shown_as_removed_without_their_old_access(acme, acme_ca, as_member):
    member_create(access_level=AccessLevel.PROPERTY_MANAGER, properties=("harbour-view",),
                         state=Membership.State.DISABLED, first_name="Gone", last_name="Person")
    html = as_member(acme_ca).get("/team/").content.decode()
    row = html.split("Gone Person")[1].split("</tr>")[0]
    assert "Removed" in row and "No access" in row and "Give access again" in row
    assert "Property Manager" not in row and "Harbour View" not in row


def test_waiting_room_people_are_offered_give_access_and_never_remove(acme, acme_ca, acme_waiting, as_member):
    client = as_member(acme_ca)
    row = client.get("/team/").content.decode().split("Wanda Waiting")[1].split("</tr>")[0]
    assert "Give access" in row and "Remove" not in row
    page = client.get(f"/team/{acme_waiting.membership.pk}/").content.decode()
    assert "Give access" in page and "Remove access…" not in page


def test_team_members_search_and_filters(acme, acme_ca, acme_pm, acme_tech, acme_waiting, as_member):
    client = as_member(acme_ca)
    html = client.get("/team/?q=tess").content.decode()
    assert acme_tech.email.split("@")[0] in html and "Pete" not in html
    html = client.get("/team/?level=property-manager").content.decode()
    assert "Pete Manager" in html and "Tess Tech" not in html
    html = client.get("/team/?state=waiting_room").content.decode()
    assert "Wanda Waiting" in html and "Pete Manager" not in html and "1 matching" in html


def test_team_members_pages_through_a_long_list(acme, acme_ca, as_member):
    for i in range(30):
        member_create(first_name=f"Person{i:02d}", last_name="Zed")
    client = as_member(acme_ca)
    assert "Page 1 of 2" in client.get("/team/").content.decode()
    assert "Page 2 of 2" in client.get("/team/?page=2").content.decode()


def test_a_member_is_emailed_when_their_access_level_changes(acme, acme_ca, acme_pm, as_member,
                                                             django_capture_on_commit_callbacks, eager_tasks):
    with django_capture_on_commit_callbacks(execute=True):
        as_member(acme_ca).post(f"/team/{acme_pm.membership.pk}/", {
            "access_level": "technician", "properties": property_ids("acme", "harbour-view")})
    sent = [m for m in mail.outbox if m.to == [acme_pm.email]]
    assert len(sent) == 1 and "has changed" in sent[0].subject
    assert "Access level: Property Manager → Technician" in sent[0].body


def test_a_member_is_emailed_when_their_access_is_removed(acme, acme_ca, acme_pm, as_member,
                                                          django_capture_on_commit_callbacks, eager_tasks):
    with django_capture_on_commit_callbacks(execute=True):
        as_member(acme_ca).post(f"/team/{acme_pm.membership.pk}/remove/")
    sent = [m for m in mail.outbox if m.to == [acme_pm.email]]
    assert len(sent) == 1 and "removed" in sent[0].subject


def test_an_invitation_can_be_resent_to_someone_who_has_not_signed_in(acme, acme_ca, acme_pm, as_member,
                                                                      django_capture_on_commit_callbacks,
                                                                      eager_tasks):
    client = as_member(acme_ca)
    assert "Resend invitation" in client.get(f"/team/{acme_pm.membership.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        html = client.post(f"/team/{acme_pm.membership.pk}/resend/", follow=True).content.decode()
    assert "sign-in link again" in html
    assert [m.to for m in mail.outbox] == [[acme_pm.email]]


def test_each_member_shows_their_access_history_in_words(acme, acme_ca, acme_pm, as_member):
    client = as_member(acme_ca)
    client.post(f"/team/{acme_pm.membership.pk}/", {"access_level": "technician",
                                                     "properties": property_ids("acme", "harbour-view")})
    html = client.get(f"/team/{acme_pm.membership.pk}/").content.decode()
    history = html.split("Access history")[1]
    assert "Access changed" in history and "Access level: Property Manager → Technician" in history
    assert acme_ca.email in history


def test_the_breadcrumbs_manage_account_step_leads_to_team_members_and_single_sign_on(acme, acme_ca, as_member):
    client = as_member(acme_ca)
    assert 'href="/account/"' in client.get("/team/").content.decode()
    html = client.get("/account/").content.decode()
    assert 'href="/team/"' in html and 'href="/sso/settings/"' in html and "Audit log" in html
