"""Team Members (Manage Account): Client Administrators list, add, change and remove members."""
from __future__ import annotations

from django.core import mail
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership
from provisioning.services import user_provision_from_assertion
from support.models import NewUserRequest
from tenants.models import AuditEvent
from tests.provisioning.factories import member_create, membership_find, property_ids


def test_only_client_administrators_open_team_members(acme_pm, acme_tech, acme_ca, as_member):
    assert as_member(acme_pm).get("/team/").status_code == 403
    assert as_member(acme_tech).get("/team/").status_code == 403
    assert as_member(acme_pm).post("/team/", {"email": "x@acme.example"}).status_code == 403
    assert as_member(acme_ca).get("/team/").status_code == 200


def test_the_team_list_shows_everyone_of_the_tenant_and_only_them(acme, globex, acme_ca, acme_pm, acme_waiting,
                                                                  globex_pm, as_member):
    html = as_member(acme_ca).get("/team/").content.decode()
    assert acme_pm.email in html and acme_waiting.email in html and acme_ca.email in html
    assert "Waiting Room" in html and "Property Manager" in html and "Harbour View" in html
    assert globex_pm.email not in html
    for label in ("Email address", "First name", "Surname", "Access level", "Properties"):
        assert f">{label}<" in html


def test_adding_a_team_member_pre_provisions_them_without_support_approval(
        acme, acme_ca, as_member, django_capture_on_commit_callbacks, eager_tasks):
    client = as_member(acme_ca)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/team/", {"email": "Britta.Simon@acme.example", "first_name": "Britta",
                                          "last_name": "Simon", "access_level": "client-administrator"})
    assert response.status_code == 302 and response["Location"] == "/team/"
    membership = membership_find("britta.simon@acme.example")
    assert membership.state == Membership.State.ACTIVE
    assert membership.access_level == AccessLevel.CLIENT_ADMINISTRATOR
    assert membership.last_sso_at is None
    assert not NewUserRequest.objects.filter(email="britta.simon@acme.example").exists()
    assert AuditEvent.objects.filter(action="member.add", target="britta.simon@acme.example",
                                     actor=f"user:{acme_ca.email}").exists()
    [message] = mail.outbox
    assert message.to == ["britta.simon@acme.example"] and "You can now sign in" in message.subject
    assert "Not signed in yet" in client.get("/team/").content.decode()
    # it takes effect at their next SSO
    with schema_context("acme"):
        user = user_provision_from_assertion(tenant=acme, email="britta.simon@acme.example")
    assert membership_find(user.username).state == Membership.State.ACTIVE


def test_adding_checks_domain_and_needs_properties_below_client_administrator(acme, acme_ca, as_member):
    client = as_member(acme_ca)
    response = client.post("/team/", {"email": "x@elsewhere.example", "first_name": "X", "last_name": "Y",
                                      "access_level": "technician", "properties": property_ids("acme", "elm-court")})
    assert response.status_code == 400
    assert "is not an address of Acme" in response.context["form"].errors["email"][0]
    response = client.post("/team/", {"email": "x@acme.example", "first_name": "X", "last_name": "Y",
                                      "access_level": "technician"})
    assert response.context["form"].errors["properties"] == ["Choose at least one property for Technician access."]
    assert 'id="add_properties_errors"' in response.content.decode()
    assert membership_find("x@acme.example") is None


def test_a_client_administrator_gives_a_waiting_room_user_access_by_changing_their_level(
        acme, acme_ca, acme_waiting, as_member):
    membership = membership_find(acme_waiting.username)
    client = as_member(acme_ca)
    assert "Give access" in client.get(f"/team/{membership.pk}/").content.decode()
    response = client.post(f"/team/{membership.pk}/", {"access_level": "technician",
                                                       "properties": property_ids("acme", "elm-court")})
    assert response.status_code == 302
    after = membership_find(acme_waiting.username)
    assert after.state == Membership.State.ACTIVE and after.access_level == "technician"
    assert after.property_codes == {"elm-court"}
    assert AuditEvent.objects.filter(action="member.access_change", target=acme_waiting.username).exists()


def test_a_client_administrator_changes_a_members_access_level(acme, acme_ca, acme_pm, as_member):
    membership = membership_find(acme_pm.username)
    response = as_member(acme_ca).post(f"/team/{membership.pk}/", {
        "access_level": "technician", "properties": property_ids("acme", "harbour-view", "elm-court")})
    assert response.status_code == 302
    after = membership_find(acme_pm.username)
    assert after.access_level == AccessLevel.TECHNICIAN
    assert after.property_codes == {"harbour-view", "elm-court"}


def test_a_client_administrator_cannot_lower_or_remove_themselves(acme, acme_ca, as_member):
    own = membership_find(acme_ca.username)
    client = as_member(acme_ca)
    response = client.post(f"/team/{own.pk}/", {"access_level": "technician",
                                                "properties": property_ids("acme", "elm-court")})
    assert response.status_code == 400
    assert "can't lower your own access level" in response.context["form"].errors["access_level"][0]
    response = client.post(f"/team/{own.pk}/remove/")
    assert response.status_code == 400 and "remove your own access" in response.content.decode()
    assert membership_find(acme_ca.username).state == Membership.State.ACTIVE


def test_removing_a_member_takes_their_access_away_at_once(acme, acme_ca, acme_pm, as_member):
    membership = membership_find(acme_pm.username)
    pm_client = as_member(acme_pm)
    assert pm_client.get("/").status_code == 200
    ca_client = as_member(acme_ca)
    assert "Remove access for" in ca_client.get(f"/team/{membership.pk}/remove/").content.decode()
    assert ca_client.post(f"/team/{membership.pk}/remove/").status_code == 302
    assert membership_find(acme_pm.username).state == Membership.State.DISABLED
    assert pm_client.get("/").headers["Location"] == "/waiting-room/"
    assert AuditEvent.objects.filter(action="member.remove", target=acme_pm.username).exists()
    with schema_context("acme"):
        user_provision_from_assertion(tenant=acme, email=acme_pm.username)
    assert membership_find(acme_pm.username).state == Membership.State.DISABLED


def test_another_tenants_client_administrator_cannot_reach_this_tenants_members(acme, globex, acme_pm, as_member):
    globex_ca = member_create(tenant="globex", access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    membership = membership_find(acme_pm.username)
    client = as_member(globex_ca, "globex")
    assert acme_pm.email not in client.get("/team/").content.decode()
    # the id of an acme membership means nothing (or someone else) in globex's schema
    response = client.get(f"/team/{membership.pk}/")
    assert response.status_code == 404 or acme_pm.email not in response.content.decode()


def test_the_home_page_tells_client_administrators_and_property_managers_who_waits(acme, acme_ca, acme_waiting,
                                                                                 acme_pm, acme_tech, as_member):
    for user in (acme_ca, acme_pm):
        html = as_member(user).get("/").content.decode()
        assert "Waiting for access (1)" in html and acme_waiting.email in html and "Waiting since" in html
    assert "Waiting for access" not in as_member(acme_tech).get("/").content.decode()
