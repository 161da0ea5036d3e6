"""The Waiting Room: what it says, and that a Waiting Room user reaches nothing else."""
from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from provisioning.middleware import WAITING_ROOM_ALLOWED_URL_NAMES
from support.models import NewUserRequest
from tests.provisioning.factories import member_create

SAMPLE_ARGS = {"code": "harbour-view", "membership_id": "1", "reference": "ABCDEFGH"}


def _tenant_urls() -> list[tuple[str, str]]:
    """(url name, a concrete path) for every pattern a tenant host serves."""
    found: list[tuple[str, str]] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE_ARGS.get(m.group(1), "1"), route)
                found.append((pattern.name or path, "/" + path.lstrip("^").rstrip("$")))

    walk(get_resolver("portal.urls_tenant").url_patterns, "")
    return found


TENANT_URLS = _tenant_urls()
CONFINED = [(name, path) for name, path in TENANT_URLS if name not in WAITING_ROOM_ALLOWED_URL_NAMES]


def test_the_url_list_covers_the_portal_pages():
    names = {name for name, _ in TENANT_URLS}
    assert {"home", "waiting_room", "property_manage", "team", "team_member", "team_member_remove"} <= names
    assert {"home", "property_manage", "team"} <= {name for name, _ in CONFINED}


@pytest.mark.parametrize("name,path", CONFINED, ids=[name for name, _ in CONFINED])
def test_a_waiting_room_user_gets_403_or_the_waiting_room_from_every_other_tenant_url(name, path, acme_waiting,
                                                                                      as_member):
    client = as_member(acme_waiting)
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        assert response.status_code in (302, 403), (method, path, response.status_code)
        if response.status_code == 302:
            assert response["Location"] == "/waiting-room/", (method, path)


def test_a_waiting_room_user_gets_403_json_from_apis_other_than_me(acme_waiting, as_member):
    response = as_member(acme_waiting).get("/api/anything-else")
    assert response.status_code == 403
    assert response.json()["error"] == "waiting_room"


def test_api_me_reports_the_waiting_room_state(acme_waiting, as_member):
    response = as_member(acme_waiting).get("/api/me")
    assert response.status_code == 200
    assert response.json()["state"] == "waiting_room"


def test_the_waiting_room_says_who_they_are_that_they_wait_and_what_happens_next(acme_waiting, as_member):
    response = as_member(acme_waiting).get("/waiting-room/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Waiting Room" in html
    assert "Wanda Waiting" in html and acme_waiting.email in html
    assert "waiting for access" in html
    assert "What happens next" in html and "New User" in html
    assert "Nobody has asked for access for you yet" in html


def test_the_waiting_room_shows_the_status_of_a_new_user_request_for_them(acme, acme_waiting, as_member):
    NewUserRequest.objects.create(
        tenant=acme, email=acme_waiting.email.upper(), first_name="Wanda", last_name="Waiting",
        access_level="technician", properties=[{"id": 1, "name": "Harbour View", "code": "harbour-view"}],
        requested_by_email="pm@acme.example", requested_by_name="Pete Manager",
    )
    html = as_member(acme_waiting).get("/waiting-room/").content.decode()
    assert "Waiting for support" in html
    assert "Pete Manager" in html and "Technician at Harbour View" in html


def test_the_waiting_room_tells_a_removed_member_their_access_was_removed(acme, as_member):
    user = member_create(state="disabled")
    client = as_member(user)
    assert client.get("/").headers["Location"] == "/waiting-room/"
    html = client.get("/waiting-room/").content.decode()
    assert "Your access has been removed" in html
    assert client.get("/api/me").json()["state"] == "disabled"


def test_an_active_member_opening_the_waiting_room_goes_home(acme_pm, as_member):
    response = as_member(acme_pm).get("/waiting-room/")
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.parametrize("path", ["/", "/waiting-room/", "/team/", "/properties/harbour-view/manage/"])
def test_anonymous_visitors_are_sent_to_sign_in_with_next(acme_client, path):
    response = acme_client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"
