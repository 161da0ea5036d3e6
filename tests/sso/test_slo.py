"""Single logout, signed both ways: real signed LogoutRequests/LogoutResponses from the test IdP
(HTTP-Redirect over its running server, HTTP-POST built by it), real PostgreSQL sessions and Redis
replay records. Each refusal test trips one check and shows that nothing changed."""
from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import hypothesis
import pytest
import requests
from django.test import Client
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from provisioning.models import Membership
from sso.models import IdentityProvider
from sso.services import idp_configure_from_metadata
from sso.sp import sp_endpoints
from sso.sp_keys import sp_signing_key
from tenants.models import AuditEvent
from testidp import logout as idp_logout
from testidp.idp import BINDING_HTTP_POST, TestIdP
from testidp.keys import generate_keypair
from tests.conftest import client_for, login_as
from tests.provisioning.factories import member_create

ACME = sp_endpoints(host="acme.localhost")


def _get(client: Client, url: str):
    """GET a full URL on the client's host, the query string passed on exactly as built."""
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def _signed_in(sso_sign_in, email: str) -> Client:
    client = client_for("acme.localhost")
    assert sso_sign_in(client, email).status_code == 302
    assert _me(client) == 200
    return client


def _me(client: Client) -> int:
    return client.get("/api/me").status_code


def _register_acme(idp: TestIdP, acme) -> str:
    """What an IdP admin configures: Portico's signing certificate and Logout URL."""
    certificate = sp_signing_key(tenant=acme).certificate_pem
    idp.register_sp(entity_id=ACME.entity_id, certificate_pem=certificate, slo_url=ACME.slo_url)
    return certificate


def _refused(response, code: str, acme) -> AuditEvent:
    assert response.status_code == 403, response.content[:300]
    assert b"nothing was changed" in response.content.lower()
    reference = response.content.split(b'data-testid="reference">')[1].split(b"<")[0].decode()
    event = AuditEvent.objects.get(tenant=acme, action="sso.logout_refused", target=reference)
    assert event.data["code"] == code, event.data
    return event


# --- SP-initiated ---


def test_sign_out_ends_the_session_then_sends_a_signed_logout_request_and_the_idp_answer_lands_signed_out(
        acme, acme_idp, sso_sign_in):
    certificate = _register_acme(acme_idp, acme)
    client = _signed_in(sso_sign_in, "sam.out@acme.example")

    started = client.post("/logout/")
    assert started.status_code == 302 and started["Location"].startswith(acme_idp.slo_url + "?")
    assert _me(client) == 401  # Portico's session ended before the browser left for the IdP
    sent = idp_logout.verify_redirect_request(urlsplit(started["Location"]).query, sp_certificate_pem=certificate)
    with schema_context("acme"):
        assert sent.name_id == Membership.objects.get(user__email="sam.out@acme.example").idp_subject
    assert sent.session_index and sent.issuer == ACME.entity_id and sent.destination == acme_idp.slo_url

    answer = requests.get(started["Location"], allow_redirects=False, timeout=10)  # the running test IdP
    assert answer.status_code == 302 and answer.headers["Location"].startswith(ACME.slo_url + "?SAMLResponse=")
    done = _get(client, answer.headers["Location"])
    assert done.status_code == 200
    assert b"You are signed out" in done.content and b'data-slo="done"' in done.content
    # Answered once: the same LogoutResponse again answers nothing this browser waits for.
    _refused(_get(client, answer.headers["Location"]), "logout_unknown_request", acme)


def test_without_a_logout_url_sign_out_is_local_and_says_the_idp_may_keep_you_signed_in(acme, sso_sign_in):
    IdentityProvider.objects.filter(tenant=acme).update(slo_url="")
    client = _signed_in(sso_sign_in, "local.out@acme.example")
    response = client.post("/logout/")
    assert response.status_code == 200 and b'data-slo="none"' in response.content
    assert b"may still keep you signed in there" in response.content
    assert _me(client) == 401


def test_no_logout_request_goes_to_an_idp_other_than_the_one_the_person_signed_in_with(acme, sso_sign_in):
    client = _signed_in(sso_sign_in, "switched.out@acme.example")
    IdentityProvider.objects.filter(tenant=acme).update(entity_id="https://sts.windows.net/another-directory/")
    response = client.post("/logout/")
    assert response.status_code == 200 and b'data-slo="none"' in response.content


def test_a_logout_response_to_a_request_this_browser_never_sent_is_refused(acme, acme_idp):
    url = acme_idp.logout_response(sp_slo_url=ACME.slo_url, in_response_to="_never-sent")
    _refused(_get(client_for("acme.localhost"), url), "logout_unknown_request", acme)


def test_a_logout_response_from_the_idp_reporting_failure_says_so(acme, acme_idp, sso_sign_in):
    certificate = _register_acme(acme_idp, acme)
    client = _signed_in(sso_sign_in, "fail.out@acme.example")
    started = client.post("/logout/")
    sent = idp_logout.verify_redirect_request(urlsplit(started["Location"]).query, sp_certificate_pem=certificate)
    url = acme_idp.logout_response(sp_slo_url=ACME.slo_url, in_response_to=sent.id,
                                   status="urn:oasis:names:tc:SAML:2.0:status:Responder")
    response = _get(client, url)
    assert response.status_code == 200 and b'data-slo="idp_failed"' in response.content


def test_a_logout_response_signed_by_another_key_is_refused(acme, acme_idp, globex_idp, sso_sign_in):
    certificate = _register_acme(acme_idp, acme)
    client = _signed_in(sso_sign_in, "wrongkey.out@acme.example")
    started = client.post("/logout/")
    sent = idp_logout.verify_redirect_request(urlsplit(started["Location"]).query, sp_certificate_pem=certificate)
    url = acme_idp.logout_response(sp_slo_url=ACME.slo_url, in_response_to=sent.id, signing_keypair=globex_idp.keypair)
    _refused(_get(client, url), "signature_invalid", acme)


# --- IdP-initiated ---


def test_an_idp_logout_request_ends_every_session_of_that_person_and_only_theirs(acme, acme_idp, sso_sign_in):
    certificate = _register_acme(acme_idp, acme)
    laptop, phone = _signed_in(sso_sign_in, "pat.slo@acme.example"), _signed_in(sso_sign_in, "pat.slo@acme.example")
    colleague = _signed_in(sso_sign_in, "kim.slo@acme.example")

    url, request_id = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.slo@acme.example",
                                              relay_state="state-from-idp")
    response = _get(laptop, url)
    assert response.status_code == 302 and response["Location"].startswith(acme_idp.slo_url + "?SAMLResponse=")
    assert (_me(laptop), _me(phone), _me(colleague)) == (401, 401, 200)
    # Answered with a LogoutResponse signed by the tenant's SP key, carrying the IdP's RelayState back.
    root, relay_state = idp_logout.verify_redirect_message(urlsplit(response["Location"]).query,
                                                          param="SAMLResponse", certificate_pem=certificate)
    assert root.get("InResponseTo") == request_id and relay_state == "state-from-idp"
    assert root.get("Destination") == acme_idp.slo_url
    assert root.find("{urn:oasis:names:tc:SAML:2.0:protocol}Status/{urn:oasis:names:tc:SAML:2.0:protocol}StatusCode"
                     ).get("Value") == "urn:oasis:names:tc:SAML:2.0:status:Success"
    event = AuditEvent.objects.get(tenant=acme, action="sso.logout_idp")
    assert event.target == "pat.slo@acme.example" and event.data["sessions_ended"] == 2


def test_an_idp_logout_request_over_http_post_is_honoured_when_signed(acme, acme_idp, sso_sign_in):
    client = _signed_in(sso_sign_in, "post.slo@acme.example")
    value, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="post.slo@acme.example",
                                       binding=BINDING_HTTP_POST)
    # Cross-site POST: the browser sends no cookie, the sessions still end server-side.
    response = client_for("acme.localhost").post("/sso/slo/", {"SAMLRequest": value})
    assert response.status_code == 302
    assert _me(client) == 401


@pytest.fixture
def pat_and_kim(acme, sso_sign_in):
    return _signed_in(sso_sign_in, "pat.keep@acme.example"), _signed_in(sso_sign_in, "kim.keep@acme.example")


def _nothing_changed(clients, acme) -> None:
    assert [_me(c) for c in clients] == [200] * len(clients)
    assert not AuditEvent.objects.filter(tenant=acme, action="sso.logout_idp").exists()


def test_an_unsigned_logout_request_changes_nothing(acme, acme_idp, pat_and_kim):
    url, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example", sign=False)
    _refused(_get(pat_and_kim[0], url), "unsigned", acme)
    _nothing_changed(pat_and_kim, acme)


def test_an_unsigned_logout_request_over_http_post_changes_nothing(acme, acme_idp, pat_and_kim):
    value, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example",
                                       binding=BINDING_HTTP_POST, sign=False)
    _refused(pat_and_kim[0].post("/sso/slo/", {"SAMLRequest": value}), "unsigned", acme)
    _nothing_changed(pat_and_kim, acme)


def test_a_logout_request_signed_by_another_tenants_idp_changes_nothing(acme, acme_idp, globex_idp, pat_and_kim):
    url, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example",
                                     signing_keypair=globex_idp.keypair)
    _refused(_get(pat_and_kim[0], url), "signature_invalid", acme)
    _nothing_changed(pat_and_kim, acme)


def test_a_posted_logout_request_signed_by_another_tenants_idp_changes_nothing(acme, acme_idp, globex_idp,
                                                                                pat_and_kim):
    value, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example",
                                       binding=BINDING_HTTP_POST, signing_keypair=globex_idp.keypair)
    _refused(pat_and_kim[0].post("/sso/slo/", {"SAMLRequest": value}), "certificate_mismatch", acme)
    _nothing_changed(pat_and_kim, acme)


def test_a_tampered_query_string_changes_nothing(acme, acme_idp, pat_and_kim):
    # Signed for kim, the SAMLRequest swapped for one naming pat: the signature no longer covers it.
    for_kim, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="kim.keep@acme.example")
    for_pat, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example", sign=False)
    pat_request = urlsplit(for_pat).query.split("&")[0]
    tampered = for_kim.replace(urlsplit(for_kim).query.split("&")[0], pat_request)
    _refused(_get(pat_and_kim[0], tampered), "signature_invalid", acme)
    _nothing_changed(pat_and_kim, acme)


def test_a_replayed_logout_request_is_refused(acme, acme_idp, sso_sign_in):
    client = _signed_in(sso_sign_in, "replay.slo@acme.example")
    url, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="replay.slo@acme.example")
    assert _get(client, url).status_code == 302
    again = _signed_in(sso_sign_in, "replay.slo@acme.example")  # signed in anew: the old request must not end it
    _refused(_get(again, url), "replay", acme)
    assert _me(again) == 200


def test_a_logout_request_for_another_destination_changes_nothing(acme, acme_idp, pat_and_kim):
    url, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example",
                                     destination="https://globex.localhost/sso/slo/")
    _refused(_get(pat_and_kim[0], url), "destination_mismatch", acme)
    _nothing_changed(pat_and_kim, acme)


def test_a_logout_request_with_a_doctype_changes_nothing(acme, acme_idp, pat_and_kim):
    url, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example", doctype=True)
    _refused(_get(pat_and_kim[0], url), "doctype", acme)
    _nothing_changed(pat_and_kim, acme)


def test_an_old_logout_request_changes_nothing(acme, acme_idp, pat_and_kim):
    url, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example",
                                     issue_instant=datetime.now(UTC) - timedelta(hours=1))
    _refused(_get(pat_and_kim[0], url), "expired", acme)
    _nothing_changed(pat_and_kim, acme)


def test_a_logout_request_from_another_issuer_changes_nothing(acme, acme_idp, pat_and_kim):
    url, _ = acme_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example",
                                     issuer="https://sts.windows.net/00000000-0000-0000-0000-000000000000/")
    _refused(_get(pat_and_kim[0], url), "issuer_mismatch", acme)
    _nothing_changed(pat_and_kim, acme)
    _nothing_changed(pat_and_kim, acme)


def test_a_bare_or_garbled_slo_request_is_a_clean_refusal(acme, acme_client):
    _refused(acme_client.get("/sso/slo/"), "malformed", acme)
    _refused(acme_client.get("/sso/slo/?SAMLRequest=%%%&Signature=x&SigAlg=x"), "unsupported_algorithm", acme)
    _refused(acme_client.post("/sso/slo/", {"SAMLRequest": "not base64!"}), "malformed", acme)


# --- Entra's logout Issuer ---


@pytest.fixture
def entra_idp(acme) -> TestIdP:
    """acme connected to an Entra-like IdP (in process): signs in as sts.windows.net, logs out as
    login.microsoftonline.com."""
    idp = TestIdP.like_entra("https://login.microsoftonline.test", keypair=generate_keypair())
    idp_configure_from_metadata(tenant=acme, document=idp.metadata_xml(), actor="test")
    return idp


def test_entras_logout_issuer_is_accepted_for_an_idp_logout_request(acme, entra_idp):
    assert entra_idp.logout_issuer != entra_idp.entity_id
    user = member_create(email="entra.person@acme.example")
    with schema_context("acme"):
        Membership.objects.filter(user=user).update(idp_subject="entra.person@acme.example")
    client = login_as(client_for("acme.localhost"), user, "acme")
    url, _ = entra_idp.logout_request(sp_slo_url=ACME.slo_url, name_id="entra.person@acme.example")
    response = _get(client, url)
    assert response.status_code == 302 and response["Location"].startswith(entra_idp.slo_url)
    assert _me(client) == 401


def test_entras_logout_issuer_is_accepted_for_a_logout_response(acme, entra_idp):
    client = client_for("acme.localhost")
    certificate = sp_signing_key(tenant=acme).certificate_pem
    # A session signed in through this IdP (the SAML subject the ACS keeps).
    user = member_create(email="entra.out@acme.example")
    login_as(client, user, "acme")
    with schema_context("acme"):  # where the tenant's sessions live
        session = client.session
        session["portico_saml_subject"] = {"issuer": entra_idp.entity_id, "name_id": "entra.out@acme.example",
                                           "name_id_format": None, "session_index": "_s1"}
        session.save()
    started = client.post("/logout/")
    sent = idp_logout.verify_redirect_request(urlsplit(started["Location"]).query, sp_certificate_pem=certificate)
    url = entra_idp.logout_response(sp_slo_url=ACME.slo_url, in_response_to=sent.id)
    response = _get(client, url)
    assert response.status_code == 200 and b'data-slo="done"' in response.content


def test_another_entra_directorys_logout_issuer_is_refused(acme, pat_and_kim, entra_idp):
    url, _ = entra_idp.logout_request(
        sp_slo_url=ACME.slo_url, name_id="pat.keep@acme.example",
        issuer="https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/")
    _refused(_get(pat_and_kim[0], url), "issuer_mismatch", acme)
    _nothing_changed(pat_and_kim, acme)


def test_the_settings_page_gives_the_logout_url_to_paste_into_entra(acme, acme_ca, as_member):
    page = as_member(acme_ca).get("/sso/settings/")
    assert page.status_code == 200
    assert b"Logout Url (Optional)" in page.content and ACME.slo_url.encode() in page.content


def test_a_logout_response_to_a_request_older_than_the_ttl_is_refused(acme, acme_idp, settings):
    import time

    from sso.slo import SloMessageIn, SloRefused, slo_receive

    url = acme_idp.logout_response(sp_slo_url=ACME.slo_url, in_response_to="_sent-long-ago")
    outcome = slo_receive(tenant=acme, endpoints=ACME, outstanding={
        "_sent-long-ago": time.time() - settings.PORTICO_SAML_REQUEST_TTL_SECONDS - 60},
        message=SloMessageIn(method="GET", raw_query=urlsplit(url).query, form={}, host="acme.localhost",
                             remote_addr=None))
    assert isinstance(outcome, SloRefused) and outcome.code == "request_expired"


# --- whatever arrives at /sso/slo/, the answer is never a 5xx ---

_FUZZ = hypothesis.settings(max_examples=40, deadline=None,
                            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@_FUZZ
@given(query=st.text(max_size=300), body=st.binary(max_size=1024))
def test_arbitrary_logout_messages_never_answer_5xx(acme, query, body):
    client = client_for("acme.localhost")
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = quote(base64.b64encode(deflater.compress(body) + deflater.flush()).decode(), safe="")
    for response in (client.get(f"/sso/slo/?{quote(query, safe='=&')}"),
                     client.get(f"/sso/slo/?SAMLRequest={deflated}&SigAlg=x&Signature=AAAA"),
                     client.get(f"/sso/slo/?SAMLResponse={deflated}"),
                     client.post("/sso/slo/", {"SAMLRequest": base64.b64encode(body).decode()}),
                     client.post("/sso/slo/", {"SAMLResponse": query})):
        assert 400 <= response.status_code < 500, response.content[:300]
