"""Email-first sign-in on the central host and on tenant hosts, and `next` sanitising."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from sso.models import IdentityProvider
from sso.sp import sp_endpoints
from tenants.models import Tenant

BUTTON_RE = re.compile(r'<a class="button block" id="sso-button" href="([^"]+)">(.*?)</a>', re.S)


def button(response) -> tuple[str, str] | None:
    """(href, label) of the Log In with … button, or None when the page shows none."""
    assert response.status_code == 200
    match = BUTTON_RE.search(response.content.decode())
    if match is None:
        return None
    label = " ".join(re.sub(r"<[^>]+>", " ", match.group(2)).split())
    return html.unescape(match.group(1)), label


def continue_with(client: Client, email: str, next_path: str | None = None, path: str = "/login/"):
    data = {"email": email}
    if next_path is not None:
        data["next"] = next_path
    return client.post(path, data)


def next_of(href: str) -> str:
    return parse_qs(urlsplit(href).query)["next"][0]


# --- central host --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/login/"])
def test_central_host_asks_for_an_email_first(public_client, path):
    response = public_client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'type="email"' in page and ">Continue</button>" in page and "csrfmiddlewaretoken" in page
    assert button(response) is None


@pytest.mark.parametrize("path", ["/", "/login/"])
def test_central_host_offers_the_tenants_idp_for_a_known_domain(acme, public_client, path):
    href, label = button(continue_with(public_client, "Bo.Smith@ACME.example", path=path))
    assert label == "Log In with " + IdentityProvider.objects.get(tenant=acme).display_name
    primary = sp_endpoints(host="acme.localhost")
    assert href == f"{primary.base_url}/sso/login/?next=%2F&login_hint=bo.smith%40acme.example"


def test_the_button_label_follows_the_idps_display_name(acme, public_client):
    IdentityProvider.objects.filter(tenant=acme).update(display_name="Microsoft")
    response = continue_with(public_client, "bo@acme.example")
    assert button(response)[1] == "Log In with Microsoft"
    assert 'class="ms-logo"' in response.content.decode()
    IdentityProvider.objects.filter(tenant=acme).update(display_name="Okta")
    assert button(continue_with(public_client, "bo@acme.example"))[1] == "Log In with Okta"


def test_central_host_sends_each_domain_to_its_own_tenant(acme, globex, public_client):
    href, _label = button(continue_with(public_client, "al@globex.example"))
    assert href.startswith(sp_endpoints(host="globex.localhost").base_url + "/sso/login/")


def test_central_host_explains_an_unknown_domain_and_offers_no_button(db, public_client):
    response = continue_with(public_client, "someone@unknown-company.example")
    assert button(response) is None
    assert "No organisation signs in with addresses at unknown-company.example." in response.content.decode()


def test_a_domain_waiting_for_verification_routes_nobody_until_verified(acme, globex, public_client, acme_client):
    from tenants.services import email_domain_verified_mark, tenant_email_domains_add

    squat = tenant_email_domains_add(tenant=globex, domains=["initech.example"], actor="test")[0]
    (claim,) = tenant_email_domains_add(tenant=acme, domains=["initech.example"], actor="test")
    for client in (public_client, acme_client):
        response = continue_with(client, "bo@initech.example")
        assert button(response) is None
        assert "No organisation signs in with addresses at initech.example." in response.content.decode()
    email_domain_verified_mark(email_domain=claim, method="support", actor="test")
    href, _label = button(continue_with(public_client, "bo@initech.example"))
    assert href.startswith(sp_endpoints(host="acme.localhost").base_url + "/sso/login/")
    assert button(continue_with(acme_client, "bo@initech.example")) is not None
    assert not type(squat).objects.filter(pk=squat.pk).exists()  # globex's claim went with the verification


def test_central_host_explains_a_tenant_whose_sso_is_not_set_up(acme, public_client):
    IdentityProvider.objects.filter(tenant=acme).delete()
    response = continue_with(public_client, "bo@acme.example")
    assert button(response) is None
    assert "Single sign-on isn't set up yet for acme.example." in response.content.decode()


def test_a_suspended_tenant_gets_no_button(acme, public_client):
    Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.SUSPENDED)
    response = continue_with(public_client, "bo@acme.example")
    assert button(response) is None
    assert "Sign-in for acme.example is unavailable at the moment." in response.content.decode()


@pytest.mark.parametrize("email", ["", "not-an-email", "bo@", "@acme.example"])
def test_an_invalid_email_gets_a_message_next_to_the_field(db, public_client, email):
    response = continue_with(public_client, email)
    assert button(response) is None
    assert 'class="errorlist"' in response.content.decode()


# --- tenant hosts --------------------------------------------------------------------------------------------


def test_tenant_host_offers_its_own_idp_and_stays_on_the_host(acme, acme_client):
    href, label = button(continue_with(acme_client, "bo@acme.example", "/properties/?page=2"))
    assert label.startswith("Log In with ")
    assert href == f"{sp_endpoints(host='acme.localhost').base_url}/sso/login/?next=%2Fproperties%2F%3Fpage%3D2&login_hint=bo%40acme.example"


def test_staging_host_starts_sign_in_on_the_staging_host(acme):
    href, _label = button(continue_with(Client(HTTP_HOST="acme-staging.localhost"), "bo@acme.example"))
    assert href.startswith(sp_endpoints(host="acme-staging.localhost").base_url + "/sso/login/")


def test_tenant_host_gives_no_button_for_another_tenants_domain(acme, globex, acme_client):
    response = continue_with(acme_client, "al@globex.example")
    assert button(response) is None
    page = response.content.decode()
    assert "Acme Property Management doesn't sign in addresses at globex.example." in page
    assert "Globex" not in page  # nothing about which tenant owns it
    assert "globex.localhost" not in page


def test_tenant_host_gives_no_button_for_an_unknown_domain(acme, acme_client):
    response = continue_with(acme_client, "x@nowhere.example")
    assert button(response) is None
    assert "No organisation signs in with addresses at nowhere.example." in response.content.decode()


def test_tenant_host_explains_when_its_own_sso_is_not_set_up(acme, acme_client):
    IdentityProvider.objects.filter(tenant=acme).delete()
    response = continue_with(acme_client, "bo@acme.example")
    assert button(response) is None
    assert "Single sign-on isn't set up yet" in response.content.decode()


def test_sign_in_form_needs_a_csrf_token(acme):
    client = Client(HTTP_HOST="acme.localhost", enforce_csrf_checks=True)
    assert client.post("/login/", {"email": "bo@acme.example"}).status_code == 403


def test_next_from_the_query_string_is_carried_through_the_form(acme, acme_client):
    page = acme_client.get("/login/?next=/reports/%3Fy%3D2025").content.decode()
    assert 'name="next" value="/reports/?y=2025"' in page


# --- next sanitising ----------------------------------------------------------------------------------------

OPEN_REDIRECTS = [
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "https://evil.example/",
    "http://acme.localhost.evil.example/",
    "javascript:alert(1)",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "evil.example/path",
    "https:/evil.example",
    "",
]


@pytest.mark.parametrize("evil", OPEN_REDIRECTS)
@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_anything_but_a_same_host_relative_path_becomes_slash(acme, host, evil):
    client = Client(HTTP_HOST=host)
    href, _label = button(continue_with(client, "bo@acme.example", evil))
    assert next_of(href) == "/"
    page = client.get("/login/", {"next": evil}).content.decode()
    assert 'name="next" value="/"' in page


@pytest.mark.parametrize("good", ["/", "/properties/", "/properties/12/?tab=people#top", "/a%2F%2Fb"])
def test_same_host_relative_paths_pass_through(acme, public_client, good):
    href, _label = button(continue_with(public_client, "bo@acme.example", good))
    assert next_of(href) == good
