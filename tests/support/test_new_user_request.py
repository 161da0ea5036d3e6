"""The New User form on a property's Manage page: who may use it, what it checks, what it records."""
from __future__ import annotations

import pytest
from django.core import mail
from django_tenants.utils import schema_context

from outbox.models import OutboundEmail
from provisioning.errors import NotAllowed
from provisioning.models import AccessLevel, Property
from provisioning.services import user_provision_from_assertion
from support.models import NewUserRequest
from support.services import new_user_request_create
from tenants.models import AuditEvent
from tests.provisioning.factories import property_ids

MANAGE = "/properties/harbour-view/manage/"


def _form(**overrides) -> dict:
    data = {"email": "new.hire@acme.example", "first_name": "New", "last_name": "Hire",
            "access_level": "technician", "properties": property_ids("acme", "harbour-view")}
    data.update(overrides)
    return data


def test_the_manage_page_shows_the_new_user_form_defaulting_to_the_current_property(acme_pm, as_member):
    response = as_member(acme_pm).get(MANAGE)
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Email address", "First name", "Surname", "Access level", "Properties"):
        assert f">{label}<" in html
    form = response.context["form"]
    assert form.initial["properties"] == property_ids("acme", "harbour-view")
    # a Property Manager is offered only the levels they may grant
    assert [value for value, _ in form.fields["access_level"].choices] == ["technician", "property-manager"]
    assert list(form.fields["properties"].queryset.values_list("code", flat=True)) == ["harbour-view"]


def test_a_property_manager_submits_a_request_that_records_who_asked_and_notifies_support(
        acme, acme_pm, as_member, django_capture_on_commit_callbacks, eager_tasks, settings):
    settings.PORTICO_SUPPORT_EMAILS = ["support-desk@portico.example"]
    client = as_member(acme_pm)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(MANAGE, _form(email=" New.Hire@ACME.example "))
    assert response.status_code == 302 and response["Location"] == MANAGE
    row = NewUserRequest.objects.get(tenant=acme, email="new.hire@acme.example")
    assert row.status == NewUserRequest.Status.PENDING
    assert (row.first_name, row.last_name, row.access_level) == ("New", "Hire", "technician")
    assert row.properties == [{"id": property_ids("acme", "harbour-view")[0], "name": "Harbour View",
                               "code": "harbour-view"}]
    assert row.requested_by_email == acme_pm.email and row.requested_by_name == "Pete Manager"
    assert row.requested_by_user_id == acme_pm.pk and row.requested_from_property == "Harbour View"
    assert row.created is not None
    assert AuditEvent.objects.filter(action="new_user_request.create", target=row.email,
                                     actor=f"user:{acme_pm.email}").exists()
    [message] = mail.outbox
    assert message.to == ["support-desk@portico.example"]
    assert "new.hire@acme.example" in message.subject and "Acme Property Management" in message.subject
    assert f"/admin/support/newuserrequest/{row.pk}/change/" in message.body
    assert message.alternatives and "New User request" in message.alternatives[0][0]
    followed = client.get(MANAGE)
    assert "was sent to Portico support" in followed.content.decode()
    assert "new.hire@acme.example" in followed.content.decode()  # listed with its status


def test_a_technician_can_neither_open_the_manage_page_nor_submit_the_form(acme, acme_tech, as_member):
    client = as_member(acme_tech)
    assert client.get(MANAGE).status_code == 403
    assert client.post(MANAGE, _form()).status_code == 403
    assert not NewUserRequest.objects.filter(tenant=acme).exists()
    with schema_context("acme"), pytest.raises(NotAllowed):
        new_user_request_create(tenant=acme, requester=acme_tech, email="x@acme.example", first_name="X",
                                last_name="Y", access_level="technician", properties=list(Property.objects.all()))


def test_a_property_manager_cannot_grant_client_administrator(acme, acme_pm, as_member):
    response = as_member(acme_pm).post(MANAGE, _form(access_level="client-administrator"))
    assert response.status_code == 400
    assert response.context["form"].errors["access_level"] == ["You can't grant that access level."]
    assert "You can&#x27;t grant that access level." in response.content.decode()
    assert not NewUserRequest.objects.filter(tenant=acme).exists()
    # the service says no as well, whatever the form offered
    with schema_context("acme"), pytest.raises(NotAllowed, match="can't grant Client Administrator"):
        new_user_request_create(tenant=acme, requester=acme_pm, email="x@acme.example", first_name="X",
                                last_name="Y", access_level="client-administrator",
                                properties=list(Property.objects.filter(code="harbour-view")))


def test_a_property_manager_cannot_grant_a_property_they_do_not_hold(acme, acme_pm, as_member):
    response = as_member(acme_pm).post(MANAGE, _form(properties=property_ids("acme", "elm-court")))
    assert response.status_code == 400
    assert response.context["form"].errors["properties"] == ["You can't grant access to that property."]
    with schema_context("acme"), pytest.raises(NotAllowed, match="can't grant access to Elm Court"):
        new_user_request_create(tenant=acme, requester=acme_pm, email="x@acme.example", first_name="X",
                                last_name="Y", access_level="technician",
                                properties=list(Property.objects.filter(code="elm-court")))


def test_a_property_manager_cannot_open_a_property_they_do_not_hold(acme_pm, as_member):
    assert as_member(acme_pm).get("/properties/elm-court/manage/").status_code == 404


@pytest.mark.parametrize("email,message", [
    ("someone@gmail.example", "is not an address of Acme Property Management. Use an address ending in @acme.example"),
    ("someone@globex.example", "is not an address of Acme Property Management"),
    ("not-an-email", "Enter a valid email address."),
])
def test_the_email_must_belong_to_the_tenant(acme, acme_pm, as_member, email, message):
    response = as_member(acme_pm).post(MANAGE, _form(email=email))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["email"])
    assert not NewUserRequest.objects.filter(tenant=acme).exists()


def test_a_second_pending_request_for_the_same_email_is_refused(acme, acme_pm, acme_ca, as_member):
    assert as_member(acme_pm).post(MANAGE, _form()).status_code == 302
    response = as_member(acme_ca).post(MANAGE, _form(email="NEW.HIRE@acme.example"))
    assert response.status_code == 400
    assert response.context["form"].errors["email"] == [
        "A request for new.hire@acme.example is already waiting for support."]
    assert NewUserRequest.objects.filter(tenant=acme, email__iexact="new.hire@acme.example").count() == 1


def test_required_fields_are_reported_next_to_each_field(acme_pm, as_member):
    response = as_member(acme_pm).post(MANAGE, {"email": "", "first_name": "", "last_name": "",
                                                "access_level": "technician", "properties": []})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {"email", "first_name", "last_name"}
    html = response.content.decode()
    assert 'id="id_email_errors"' in html and 'aria-invalid="true"' in html


def test_no_properties_is_refused(acme_pm, as_member):
    response = as_member(acme_pm).post(MANAGE, _form(properties=[]))
    assert response.context["form"].errors["properties"] == ["Choose at least one property."]


def test_a_request_may_name_someone_already_in_the_waiting_room(acme, acme_pm, as_member):
    with schema_context("acme"):
        user_provision_from_assertion(tenant=acme, email="waiting.one@acme.example")
    assert as_member(acme_pm).post(MANAGE, _form(email="waiting.one@acme.example")).status_code == 302
    assert NewUserRequest.objects.filter(tenant=acme, email="waiting.one@acme.example").exists()


def test_a_request_for_someone_who_already_has_access_is_refused(acme, acme_pm, acme_tech, as_member):
    response = as_member(acme_pm).post(MANAGE, _form(email=acme_tech.email))
    assert response.status_code == 400
    assert "already has access" in response.context["form"].errors["email"][0]


def test_a_client_administrator_may_request_any_level_but_support_for_any_property(acme, acme_ca, as_member):
    response = as_member(acme_ca).get("/properties/elm-court/manage/")
    choices = [value for value, _ in response.context["form"].fields["access_level"].choices]
    assert choices == [AccessLevel.TECHNICIAN, AccessLevel.PROPERTY_MANAGER, AccessLevel.CLIENT_ADMINISTRATOR]
    response = as_member(acme_ca).post("/properties/elm-court/manage/", _form(
        access_level="client-administrator", properties=property_ids("acme", "elm-court", "harbour-view")))
    assert response.status_code == 302
    assert NewUserRequest.objects.get(tenant=acme).access_level == "client-administrator"


def test_nothing_is_recorded_or_sent_when_the_surrounding_transaction_rolls_back(
        acme, acme_pm, django_capture_on_commit_callbacks):
    from django.db import transaction

    class Boom(Exception):
        pass

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Boom):
        with transaction.atomic(), schema_context("acme"):
            new_user_request_create(tenant=acme, requester=acme_pm, email="rolled.back@acme.example",
                                    first_name="Rolled", last_name="Back", access_level="technician",
                                    properties=list(Property.objects.filter(code="harbour-view")))
            raise Boom
    assert not NewUserRequest.objects.filter(email="rolled.back@acme.example").exists()
    assert not OutboundEmail.objects.filter(subject__contains="rolled.back@acme.example").exists()
    assert callbacks == []  # the send task was never queued
    assert mail.outbox == []


def test_another_tenants_managers_see_neither_the_requests_nor_the_users(acme, globex, acme_pm, globex_pm,
                                                                        as_member):
    assert as_member(acme_pm).post(MANAGE, _form(email="only.acme@acme.example")).status_code == 302
    globex_client = as_member(globex_pm, "globex")
    page = globex_client.get("/properties/globex-tower/manage/").content.decode()
    assert "only.acme@acme.example" not in page and acme_pm.email not in page
    assert globex_client.get(MANAGE).status_code == 404  # acme's property does not exist at globex
    # a globex manager cannot ask for an acme address either
    response = globex_client.post("/properties/globex-tower/manage/", _form(
        email="sneak@acme.example", properties=property_ids("globex", "globex-tower")))
    assert "is not an address of Globex Residential" in response.context["form"].errors["email"][0]
    # and acme's session means nothing on globex's host
    acme_session = as_member(acme_pm)
    acme_session.defaults["HTTP_HOST"] = "globex.localhost"
    assert acme_session.get("/").status_code == 302
    assert acme_session.get("/").headers["Location"].startswith("/login/")
