"""Tenant isolation: a user of tenant A, at every access level, tries every tenant-B URL through A's
host, B's host and the central host. Nothing of B is readable or writable: every answer is a clean
403/404/405/410, a 401 from the API, or a redirect to a sign-in page, and never carries B's data.

URL patterns are enumerated from both URLconfs, so a new URL fails this test until it is classified
below (and so covered).
"""
from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership
from sso.models import IdentityProvider, SignInAttempt
from sso.services import sign_in_attempt_record
from tests.conftest import client_for, login_as
from tests.provisioning.factories import member_create

HOSTS = ("acme.localhost", "globex.localhost", "localhost")
# Tenant-B URLs that show or change B's data: each gets B's real objects in its path.
PRIVATE = {"home", "waiting_room", "property_manage", "team", "team_member", "team_member_remove", "setup_link",
           "setup_link_continue",
           "sso_test_result", "sso_settings", "sso_attempt", "api_me", "audit_log", "audit_log_csv", "manage_account",
           "new_user_request_withdraw", "property_detail", "team_member_resend", "waiting_member_request",
           "waiting_room_ask", "scim_token_new", "scim_token_revoke",
           # SCIM answers a bearer token of its own tenant only; a session (any tenant's) gets 401.
           "scim_users", "scim_user", "scim_groups", "scim_group", "scim_spc", "scim_schemas", "scim_schema",
           "scim_resource_types", "scim_resource_type", "scim_unknown"}
# Open to anyone by design (sign-in, metadata, health, support staff's admin behind its own login):
# still probed, and still must not show B's private data.
# Those whose path names one of B's objects (a property, attempt, token): refused on every host.
# Membership ids are per schema, so /team/<B's id>/ on A's host can only address A's own row of that id:
# there only B's markers are checked.
NAMES_B_OBJECTS = {"property_manage", "property_detail", "setup_link", "sso_test_result", "sso_attempt",
                   "scim_user", "scim_token_revoke"}
# sso_sp_certificate: the tenant's public SP certificate(s), as listed in its SP metadata.
PUBLIC = {"healthz", "login", "logout", "sso_login", "sso_acs", "sso_metadata", "sso_sp_certificate", "sso_slo", "central_home",
          "central_login"}
ADMIN_NAMESPACE = "admin"
CLEAN = {401, 403, 404, 405, 410}
SIGN_IN_PATHS = ("/login/", "/sso/login/", "/admin/login/")


def _names(patterns, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names |= _names(pattern.url_patterns, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            names.add(f"{namespace}:{pattern.name}" if namespace else str(pattern.name))
    return names


def test_every_url_pattern_is_classified_for_the_isolation_matrix():
    from portal import urls_public, urls_tenant

    names = _names(urls_tenant.urlpatterns) | _names(urls_public.urlpatterns)
    unclassified = {n for n in names if n not in PRIVATE | PUBLIC and not n.startswith(f"{ADMIN_NAMESPACE}:")}
    assert not unclassified, f"classify these URL names in tests/portal/test_isolation.py: {sorted(unclassified)}"


@pytest.fixture
def globex_private(globex, acme):
    """B's objects to aim at, and the markers that must never appear in an answer to A."""
    from support.models import NewUserRequest
    from support.services import setup_link_create

    def new_user_request_create(**fields):
        return NewUserRequest.objects.create(**fields)

    member = member_create(tenant="globex", email="gina.secret@globex.example",
                           access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=("globex-tower",))
    with schema_context("globex"):
        membership_id = Membership.objects.get(user=member).pk
    attempt = sign_in_attempt_record(tenant=globex, outcome=SignInAttempt.Outcome.FAILURE, code="replay",
                                     message="globex-only diagnosis", email="gina.secret@globex.example")
    _link, token = setup_link_create(tenant=globex, email="first.admin@globex.example", actor="test")
    with schema_context("globex"):
        from scim.services import scim_token_create

        scim_token, _secret = scim_token_create(tenant=globex, name="globex-sync", actor="test")
    request = new_user_request_create(tenant=globex, email="wanted.person@globex.example", first_name="Wanted",
                                      last_name="Person", access_level=AccessLevel.TECHNICIAN,
                                      properties=[{"id": 1, "name": "Globex Tower", "code": "globex-tower"}],
                                      requested_by_email="gina.secret@globex.example")
    paths = {
        "home": ["/"], "waiting_room": ["/waiting-room/"], "property_manage": ["/properties/globex-tower/manage/"],
        "team": ["/team/"], "team_member": [f"/team/{membership_id}/"],
        "team_member_remove": [f"/team/{membership_id}/remove/"], "setup_link": [f"/setup/{token}/"],
        "setup_link_continue": ["/setup/"],
        "sso_test_result": [f"/sso/test/{attempt.reference}/"], "sso_settings": ["/sso/settings/"],
        "sso_attempt": [f"/sso/attempts/{attempt.reference}/"], "api_me": ["/api/me"],
        "audit_log": ["/account/audit-log/"], "audit_log_csv": ["/account/audit-log.csv"],
        "manage_account": ["/account/"], "property_detail": ["/properties/globex-tower/"],
        "new_user_request_withdraw": [f"/requests/{request.pk}/withdraw/"],
        "team_member_resend": [f"/team/{membership_id}/resend/"],
        "waiting_member_request": [f"/waiting/{membership_id}/request/"], "waiting_room_ask": ["/waiting-room/ask/"],
        "scim_token_new": ["/sso/settings/scim/tokens/"],
        "scim_token_revoke": [f"/sso/settings/scim/tokens/{scim_token.pk}/revoke/"],
        "scim_schema": ["/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"],
        "scim_resource_type": ["/scim/v2/ResourceTypes/User"],
        "scim_users": ["/scim/v2/Users"], "scim_user": ["/scim/v2/Users/1"], "scim_groups": ["/scim/v2/Groups"],
        "scim_group": ["/scim/v2/Groups/1"], "scim_spc": ["/scim/v2/ServiceProviderConfig"],
        "scim_schemas": ["/scim/v2/Schemas"], "scim_resource_types": ["/scim/v2/ResourceTypes"],
        "scim_unknown": ["/scim/v2/Nothing"],
    }
    markers = [b"gina.secret", attempt.reference.encode(), b"globex-only diagnosis", b"Globex Tower",
               b"first.admin@globex.example",
               b"wanted.person@globex.example"]
    return {"paths": paths, "markers": markers, "membership_id": membership_id}


def _public_here(host: str, path: str) -> bool:
    """The central host serves some of these paths as its own public pages (its landing page is `/`)."""
    from django.urls import Resolver404, resolve

    if host != "localhost":
        return False
    try:
        return resolve(path, urlconf="portal.urls_public").url_name in PUBLIC
    except Resolver404:
        return False


def _b_state() -> tuple:
    with schema_context("globex"):
        members = sorted(Membership.objects.values_list("pk", "access_level", "state"))
    idp = IdentityProvider.objects.get(tenant__slug="globex")
    return members, idp.version, idp.entity_id, idp.allow_idp_initiated


def _assert_clean(response, path: str, host: str, markers: list[bytes]) -> None:
    status = response.status_code
    where = f"{response.request['REQUEST_METHOD']} {host}{path} -> {status}"
    if status in (301, 302):
        assert response["Location"].split("?")[0].endswith(SIGN_IN_PATHS) or \
            response["Location"].split("?")[0].rstrip("/").endswith(("/waiting-room", "")), where
        assert "globex" not in response["Location"] or host == "globex.localhost", where
    else:
        assert status in CLEAN, where
    for marker in markers:
        assert marker not in response.content, f"{where} shows {marker!r}"


@pytest.mark.parametrize("level", [AccessLevel.TECHNICIAN, AccessLevel.PROPERTY_MANAGER,
                                   AccessLevel.CLIENT_ADMINISTRATOR, AccessLevel.SUPPORT])
def test_a_user_of_tenant_a_can_read_or_change_nothing_of_tenant_b(level, globex_private):
    user = member_create(tenant="acme", access_level=level, properties=("harbour-view",))
    before = _b_state()
    form = {"access_level": AccessLevel.CLIENT_ADMINISTRATOR, "email": "intruder@globex.example",
            "first_name": "In", "last_name": "Truder", "properties": ["1"], "entity_id": "https://evil.example/",
            "allow_idp_initiated": "on", "action": "options"}
    for host in HOSTS:
        client = login_as(client_for(host), user, "acme")
        for name, paths in globex_private["paths"].items():
            for path in paths:
                if name == "setup_link" and host == "globex.localhost":
                    continue  # a set-up link is a bearer credential on its own tenant's host, by design
                for response in (client.get(path), client.post(path, form)):
                    if (host == "acme.localhost" and name not in NAMES_B_OBJECTS) or _public_here(host, path):
                        # A's own page on A's host (its home, its team): A's data, but never B's.
                        assert response.status_code < 500 and not any(
                            m in response.content for m in globex_private["markers"]), (name, path)
                    else:
                        _assert_clean(response, path, host, globex_private["markers"])
    assert _b_state() == before


def test_tenant_b_public_pages_show_a_user_of_tenant_a_nothing_private(globex_private):
    from django.urls import reverse

    user = member_create(tenant="acme", access_level=AccessLevel.CLIENT_ADMINISTRATOR)
    for host in HOSTS:
        client = login_as(client_for(host), user, "acme")
        urlconf = "portal.urls_public" if host == "localhost" else "portal.urls_tenant"
        for name in PUBLIC:
            try:
                path = reverse(name, urlconf=urlconf)
            except Exception:
                continue  # not served on this kind of host
            response = client.get(path)
            assert response.status_code < 500, (host, path)
            for marker in globex_private["markers"]:
                assert marker not in response.content, (host, path, marker)
