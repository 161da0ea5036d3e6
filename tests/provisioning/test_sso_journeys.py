"""Whole journeys through a real signed SAML round trip with the test IdP (the `sso_sign_in` fixture)."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_tenants.utils import schema_context

from provisioning.models import Membership
from support.models import NewUserRequest
from tests.conftest import client_for
from tests.provisioning.factories import property_ids


def _state(email: str) -> str | None:
    with schema_context("acme"):
        return Membership.objects.filter(user__username=email).values_list("state", flat=True).first()


def test_a_pre_provisioned_user_is_signed_straight_in_after_sso(acme, sso_sign_in):
    call_command("member_add", "acme", "--email", "Pre.Provisioned@acme.example", "--first-name", "Pre",
                 "--last-name", "Provisioned", "--access-level", "property-manager", "--property", "harbour-view")
    client = client_for("acme.localhost")
    response = sso_sign_in(client, "  PRE.provisioned@ACME.example", first_name="Someone", last_name="Else")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/api/me").json()["state"] == "active"
    home = client.get("/")
    assert home.status_code == 200
    html = home.content.decode()
    assert "Welcome, Pre" in html and "Property Manager" in html and "Harbour View" in html
    assert "/properties/harbour-view/manage/" in html


def test_an_unknown_user_is_created_just_in_time_into_the_waiting_room_and_stays_one_account(acme, sso_sign_in):
    client = client_for("acme.localhost")
    response = sso_sign_in(client, "Jit.Person@acme.example", first_name="Jit", last_name="Person")
    assert response.status_code == 302 and response["Location"] == "/waiting-room/"
    assert client.get("/api/me").json()["state"] == "waiting_room"
    assert client.get("/").headers["Location"] == "/waiting-room/"
    page = client.get("/waiting-room/").content.decode()
    assert "Jit Person" in page and "jit.person@acme.example" in page and "waiting for access" in page

    again = client_for("acme.localhost")
    response = sso_sign_in(again, "JIT.PERSON@acme.example")
    assert response["Location"] == "/waiting-room/"
    with schema_context("acme"):
        assert get_user_model().objects.filter(username="jit.person@acme.example").count() == 1
        assert Membership.objects.filter(user__username="jit.person@acme.example").count() == 1


def test_after_support_approves_the_new_user_request_the_next_sso_is_active(acme, acme_pm, as_member,
                                                                            support_client, sso_sign_in):
    waiting = client_for("acme.localhost")
    assert sso_sign_in(waiting, "later.on@acme.example", first_name="Later", last_name="On")[
        "Location"] == "/waiting-room/"

    manage = "/properties/harbour-view/manage/"
    response = as_member(acme_pm).post(manage, {
        "email": "later.on@acme.example", "first_name": "Later", "last_name": "On", "access_level": "technician",
        "properties": property_ids("acme", "harbour-view")})
    assert response.status_code == 302
    assert "Waiting for support" in waiting.get("/waiting-room/").content.decode()

    row = NewUserRequest.objects.get(tenant=acme, email="later.on@acme.example")
    support_client.post(f"/admin/support/newuserrequest/{row.pk}/approve/")
    assert _state("later.on@acme.example") == "active"

    fresh = client_for("acme.localhost")
    response = sso_sign_in(fresh, "later.on@acme.example")
    assert response.status_code == 302 and response["Location"] == "/"
    assert fresh.get("/api/me").json()["state"] == "active"
    html = fresh.get("/").content.decode()
    assert "Technician" in html and "Harbour View" in html
