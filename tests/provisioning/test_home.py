"""The portal home: the member's access level and properties, with clear empty states."""
from __future__ import annotations

from provisioning.models import AccessLevel
from tests.provisioning.factories import member_create


def test_a_property_manager_sees_their_properties_with_manage_links(acme_pm, as_member):
    html = as_member(acme_pm).get("/").content.decode()
    assert "Welcome, Pete" in html and "<strong>Property Manager</strong>" in html
    assert "Harbour View" in html and "Elm Court" not in html
    assert 'href="/properties/harbour-view/manage/"' in html
    assert 'href="/team/"' not in html


def test_a_technician_sees_their_properties_without_manage_links(acme_tech, as_member):
    html = as_member(acme_tech).get("/").content.decode()
    assert "Harbour View" in html and "/manage/" not in html


def test_a_client_administrator_sees_every_property_and_team_members(acme_ca, as_member):
    html = as_member(acme_ca).get("/").content.decode()
    assert "you see every property" in html
    assert 'href="/properties/harbour-view/manage/"' in html and 'href="/properties/elm-court/manage/"' in html
    assert 'href="/team/"' in html


def test_a_member_without_properties_is_told_whom_to_ask(acme, as_member):
    user = member_create(access_level=AccessLevel.TECHNICIAN, properties=())
    html = as_member(user).get("/").content.decode()
    assert "You don't have access to any property yet." in html
    assert "Ask a Property Manager or your Client Administrator" in html


def test_a_technicians_property_card_leads_to_the_property_and_its_property_managers(acme, as_member):
    from provisioning.models import AccessLevel
    from tests.provisioning.factories import member_create

    tech = member_create(access_level=AccessLevel.TECHNICIAN, properties=("harbour-view",), first_name="Tess")
    pm = member_create(access_level=AccessLevel.PROPERTY_MANAGER, properties=("harbour-view",), first_name="Pia",
                       last_name="Manager")
    client = as_member(tech)
    assert 'href="/properties/harbour-view/"' in client.get("/").content.decode()
    html = client.get("/properties/harbour-view/").content.decode()
    assert "Pia Manager" in html and f"mailto:{pm.email}" in html and "Manage Harbour View" not in html
    assert client.get("/properties/harbour-view/manage/").status_code == 403
