"""The ACS end to end: real signed responses from the test IdP, Portico's checks, pysaml2, sign-in.

Every rejection must leave no session, no user and nothing else changed, and answer with a clean
4xx page carrying a reference code (security checklist rows 1-14).
"""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel
from sso.models import IdentityProvider, SignInAttempt
from testidp.keys import generate_keypair
from tests.conftest import client_for, idp_sign_in, login_as, sso_start
from tests.provisioning.factories import member_create
from tests.sso import attacks

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
ATTACKER = generate_keypair("Attacker")


def _b64(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def _acme_users() -> list[str]:
    with schema_context("acme"):
        return sorted(get_user_model().objects.values_list("username", flat=True))


def _response_for(client, idp, email="dana@acme.example", **kwargs):
    """Start SP-initiated sign-in on `client` and have the IdP answer it (XML, not yet posted)."""
    _, info = sso_start(client)
    kwargs.setdefault("in_response_to", info.id)
    return idp.build_response(acs_url=info.acs_url, audience=info.issuer, email=email, **kwargs), info


def _post(client, xml: str, relay_state: str = "/"):
    return client.post("/sso/acs/", {"SAMLResponse": _b64(xml), "RelayState": relay_state})


def _assert_rejected(client, response, code: str | None = None, users_before: list[str] | None = None):
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert b"Traceback" not in response.content
    assert b"Reference" in response.content
    assert client.get("/api/me").status_code == 401
    if users_before is not None:
        assert _acme_users() == users_before
    attempt = SignInAttempt.objects.order_by("-created", "-id").first()
    assert attempt.outcome == "failure"
    assert attempt.reference.encode() in response.content
    if code:
        assert attempt.code == code, (attempt.code, attempt.message)
    return attempt


def _idp_options(tenant, **options):
    from sso.services import idp_options_update

    idp_options_update(idp=IdentityProvider.objects.get(tenant=tenant), actor="test", **options)


def _assert_rejected_signed_in(response, code: str) -> None:
    """A refusal for a browser that stays signed in as someone else: their session is untouched."""
    assert response.status_code == 403 and b"Reference" in response.content
    assert SignInAttempt.objects.order_by("-created", "-id").first().code == code


# --- success paths -------------------------------------------------------------------------------


def test_sp_initiated_round_trip_through_the_running_idp_signs_a_new_user_into_the_waiting_room(acme, sso_sign_in):
    client = client_for("acme.localhost")
    response = sso_sign_in(client, "New.Person@ACME.example ", first_name="New", last_name="Person")
    assert response.status_code == 302
    assert response["Location"] == "/waiting-room/"
    me = client.get("/api/me").json()
    assert me == {"email": "new.person@acme.example", "tenant": "acme", "state": "waiting_room"}
    with schema_context("acme"):
        user = get_user_model().objects.get(username="new.person@acme.example")
        assert (user.first_name, user.last_name) == ("New", "Person")
    assert SignInAttempt.objects.filter(tenant=acme, outcome="success", email="new.person@acme.example").exists()


def test_an_existing_member_is_signed_straight_in_and_lands_on_next(acme, sso_sign_in):
    member_create(email="erin@acme.example", access_level=AccessLevel.TECHNICIAN)
    client = client_for("acme.localhost")
    response = sso_sign_in(client, "erin@acme.example", next_path="/properties/")
    assert response.status_code == 302 and response["Location"] == "/properties/"
    assert client.get("/api/me").json()["state"] == "active"


@pytest.mark.parametrize("signing", ["response", "both"])
def test_response_signed_and_doubly_signed_responses_are_accepted(acme, acme_idp, signing):
    member_create(email=f"{signing}@acme.example", access_level=AccessLevel.TECHNICIAN)
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, email=f"{signing}@acme.example", sign_response=True,
                           sign_assertion=signing == "both")
    response = _post(client, xml)
    assert response.status_code == 302, response.content[:400]
    assert client.get("/api/me").json()["email"] == f"{signing}@acme.example"


def test_the_acs_bounces_a_cross_site_post_once_so_lax_cookies_come_along(acme, acme_idp):
    client = client_for("acme.localhost")
    xml, info = _response_for(client, acme_idp, email="fay@acme.example")
    cookieless = client_for("acme.localhost")  # the browser withholds SameSite=Lax cookies cross-site
    bounce = cookieless.post("/sso/acs/", {"SAMLResponse": _b64(xml), "RelayState": "/"})
    assert bounce.status_code == 200
    assert b'name="portico_bounce" value="1"' in bounce.content
    assert b'action="/sso/acs/"' in bounce.content
    # The same-site re-post from the page carries the cookies again and completes.
    response = client.post("/sso/acs/", {"SAMLResponse": _b64(xml), "RelayState": "/", "portico_bounce": "1"})
    assert response.status_code == 302


def test_idp_initiated_sign_in_works_where_the_tenant_allows_it(acme, acme_idp):
    _idp_options(acme, allow_idp_initiated=True)
    member_create(email="gus@acme.example", access_level=AccessLevel.TECHNICIAN)
    client = client_for("acme.localhost")
    entity = "http://acme.localhost:8000/sso/metadata/"
    xml = acme_idp.build_response(acs_url="http://acme.localhost:8000/sso/acs/", audience=entity, email="gus@acme.example")
    response = client.post("/sso/acs/", {"SAMLResponse": _b64(xml), "portico_bounce": "1"})
    assert response.status_code == 302, response.content[:400]
    assert client.get("/api/me").json()["state"] == "active"
    assert SignInAttempt.objects.filter(outcome="success", idp_initiated=True, email="gus@acme.example").exists()


def test_a_test_sign_in_reports_success_without_signing_anyone_in_or_up(acme, acme_idp):
    admin = member_create(email="ciara@acme.example", access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    client = client_for("acme.localhost")
    login_as(client, admin)
    start, info = sso_start(client, "/sso/settings/", test=True)
    before = _acme_users()
    _, fields = idp_sign_in(start["Location"], "someone.new@acme.example")
    response = client.post("/sso/acs/", fields)
    assert response.status_code == 302 and response["Location"].startswith("/sso/test/")
    page = client.get(response["Location"])
    assert b"Test sign-in worked" in page.content and b"someone.new@acme.example" in page.content
    assert _acme_users() == before
    assert client.get("/api/me").json()["email"] == "ciara@acme.example"
    # The test request is answered: the same response cannot be used again.
    _assert_rejected_signed_in(client.post("/sso/acs/", fields), "unknown_request")


def test_a_failed_test_sign_in_explains_the_certificate_problem(acme):
    admin = member_create(email="cora@acme.example", access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=())
    client = client_for("acme.localhost")
    login_as(client, admin)
    start, _ = sso_start(client, "/sso/settings/", test=True)
    _, fields = idp_sign_in(start["Location"], "cora@acme.example", scenario="wrong-key")
    response = client.post("/sso/acs/", fields)
    page = client.get(response["Location"])
    assert b"Test sign-in found a problem" in page.content
    assert b"certificate" in page.content
    assert SignInAttempt.objects.get(reference=response["Location"].rstrip("/").rsplit("/", 1)[1]).code == "certificate_mismatch"


def test_only_client_administrators_can_start_a_test_sign_in(acme):
    tech = member_create(email="tom@acme.example", access_level=AccessLevel.TECHNICIAN)
    client = client_for("acme.localhost")
    login_as(client, tech)
    assert client.get("/sso/login/?test=1").status_code == 403


# --- rejections: checklist rows 1-8, 13 at the ACS -------------------------------------------------


def _set(xpath: str, attribute: str | None, value: str):
    def edit(root):
        for element in root.xpath(xpath, namespaces={"samlp": SAMLP, "saml": SAML}):
            if attribute:
                element.set(attribute, value)
            else:
                element.text = value
    return edit


TAMPERING = {
    # row 1: signature wrapping and duplicate IDs
    **{f"xsw{n}": (getattr(attacks, f"xsw{n}"), "assertion_count") for n in range(3, 9)},
    "duplicate_assertion_id": (attacks.duplicate_assertion_id, "duplicate_id"),
    # row 2: content changed after signing
    "change_name_id": (attacks.change_name_id, "signature_invalid"),
    "add_attribute": (attacks.add_attribute, "signature_invalid"),
    # row 3: smuggled digest, second SignedInfo
    "smuggle_digest_value": (attacks.smuggle_digest_value, "signature_wrapping"),
    "second_signed_info": (attacks.second_signed_info, "signature_wrapping"),
    # row 4: stripped signatures
    "strip_signature": (attacks.strip_signature, "unsigned"),
    "remove_signature_value": (attacks.remove_signature_value, "signature_invalid"),
    # row 5: key substitution
    "attacker_key_in_keyinfo": (lambda x: attacks.resign_with(x, ATTACKER), "certificate_mismatch"),
    "rsakeyvalue": (lambda x: attacks.replace_keyinfo_with_rsakeyvalue(x, ATTACKER), "certificate_mismatch"),
    # row 6: comment injection
    # the edit changes the signed text, so the digest refuses it first (the guard's own comment check is
    # pinned in test_saml_guard, on a payload re-signed over the comment)
    "comment_in_name_id": (lambda x: attacks.inject_comment_in_name_id(x, "dana@acme.example<!---->.evil.example"),
                           "signature_invalid"),
    # row 13: DTDs, entities, transforms, size
    "doctype_xxe": (attacks.add_doctype_xxe, "doctype"),
    "billion_laughs": (attacks.add_billion_laughs, "doctype"),
    "xslt_transform": (attacks.add_xslt_transform, "unsupported_algorithm"),
    "oversized": (attacks.make_oversized, "too_large"),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_a_tampered_response_is_rejected_and_changes_nothing(acme, acme_idp, name):
    tamper, code = TAMPERING[name]
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp)
    before = _acme_users()
    _assert_rejected(client, _post(client, tamper(xml)), code, before)


@pytest.mark.parametrize("name", ["xsw1", "xsw2"])
def test_response_level_signature_wrapping_is_rejected(acme, acme_idp, name):
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, sign_response=True, sign_assertion=False)
    before = _acme_users()
    _assert_rejected(client, _post(client, getattr(attacks, name)(xml)), "signature_wrapping", before)


def test_the_real_idp_certificate_pasted_over_an_attacker_signature_is_rejected(acme, acme_idp):
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp)
    forged = attacks.paste_real_cert_over_attacker_signature(xml, ATTACKER, acme_idp.keypair.cert_pem)
    _assert_rejected(client, _post(client, forged), "signature_invalid", _acme_users())


NOW = datetime.now(timezone.utc)
PROTOCOL = {
    # row 7: time windows
    "expired": ({"issue_instant": NOW - timedelta(hours=1)}, "expired"),
    "not_yet_valid": ({"issue_instant": NOW + timedelta(hours=1)}, "not_yet_valid"),
    # row 8: audience, destination, recipient, issuer, status
    "wrong_audience": ({"audience": "https://evil.example/sp"}, "audience_mismatch"),
    "wrong_destination": ({"destination": "https://evil.example/acs"}, "destination_mismatch"),
    "wrong_recipient": ({"recipient": "https://evil.example/acs"}, "recipient_mismatch"),
    "wrong_issuer": ({"issuer": "https://sts.windows.net/another-tenant/"}, "issuer_mismatch"),
    "status_not_success": ({"status_code": "urn:oasis:names:tc:SAML:2.0:status:Requester"}, "status"),
}


@pytest.mark.parametrize("name", list(PROTOCOL))
def test_a_response_failing_a_protocol_check_is_rejected(acme, acme_idp, name):
    overrides, code = PROTOCOL[name]
    client = client_for("acme.localhost")
    _, info = sso_start(client)
    kwargs = {"acs_url": info.acs_url, "audience": info.issuer, "email": "dana@acme.example", "in_response_to": info.id}
    kwargs.update(overrides)
    _assert_rejected(client, _post(client, acme_idp.build_response(**kwargs)), code, _acme_users())


def test_an_expired_subject_confirmation_is_rejected(acme, acme_idp):
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp)
    past = (NOW - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = attacks.resign_with(xml, acme_idp.keypair, name_id=None,
                                 edit=_set("//saml:SubjectConfirmationData", "NotOnOrAfter", past))
    _assert_rejected(client, _post(client, forged), "expired", _acme_users())


ONE_FLAW = {
    # Re-signed by the IdP with exactly one property wrong: only the named check can refuse them.
    "conditions_expired": (attacks.expire_conditions_only, "expired"),
    "conditions_not_yet_valid": (attacks.conditions_not_yet_valid_only, "not_yet_valid"),
    "assertion_issuer": (attacks.assertion_issuer_only, "issuer_mismatch"),
}


@pytest.mark.parametrize("name", list(ONE_FLAW))
def test_a_response_with_one_flaw_signed_by_the_idp_is_rejected_by_that_check(acme, acme_idp, name):
    forge, code = ONE_FLAW[name]
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp)
    _assert_rejected(client, _post(client, forge(xml, acme_idp.keypair)), code, _acme_users())


def test_a_small_clock_skew_is_tolerated(acme, acme_idp):
    member_create(email="skew@acme.example", access_level=AccessLevel.TECHNICIAN)
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, email="skew@acme.example", issue_instant=NOW + timedelta(seconds=60))
    assert _post(client, xml).status_code == 302


# --- rows 9-12, 14: requests, replay, tenants, domains, redirects ----------------------------------


def test_in_response_to_for_a_request_never_issued_is_rejected_even_with_idp_initiated_on(acme, acme_idp):
    _idp_options(acme, allow_idp_initiated=True)
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, in_response_to="id-never-issued-by-portico")
    _assert_rejected(client, _post(client, xml), "unknown_request", _acme_users())


def test_a_request_issued_in_another_browser_is_rejected(acme, acme_idp):
    victim, attacker = client_for("acme.localhost"), client_for("acme.localhost")
    xml, _ = _response_for(attacker, acme_idp, email="mallory@acme.example")
    sso_start(victim)
    response = victim.post("/sso/acs/", {"SAMLResponse": _b64(xml), "portico_bounce": "1"})
    _assert_rejected(victim, response, "unknown_request", _acme_users())


def test_a_request_issued_for_another_tenant_is_rejected(acme, globex, acme_idp):
    client = client_for("globex.localhost")
    _, info = sso_start(client)  # the request was issued by globex
    xml = acme_idp.build_response(acs_url="http://acme.localhost:8000/sso/acs/",
                                  audience="http://acme.localhost:8000/sso/metadata/",
                                  email="dana@acme.example", in_response_to=info.id)
    acme_browser = client_for("acme.localhost")
    sso_start(acme_browser)
    _assert_rejected(acme_browser, _post(acme_browser, xml), "unknown_request", _acme_users())


def test_an_unsolicited_response_is_rejected_where_idp_initiated_is_off(acme, acme_idp):
    client = client_for("acme.localhost")
    sso_start(client)
    xml = acme_idp.build_response(acs_url="http://acme.localhost:8000/sso/acs/",
                                  audience="http://acme.localhost:8000/sso/metadata/", email="dana@acme.example")
    _assert_rejected(client, _post(client, xml), "idp_initiated_disabled", _acme_users())


def test_a_replayed_response_is_rejected(acme, acme_idp):
    _idp_options(acme, allow_idp_initiated=True)
    member_create(email="rita@acme.example", access_level=AccessLevel.TECHNICIAN)
    xml = acme_idp.build_response(acs_url="http://acme.localhost:8000/sso/acs/",
                                  audience="http://acme.localhost:8000/sso/metadata/", email="rita@acme.example")
    first = client_for("acme.localhost")
    assert first.post("/sso/acs/", {"SAMLResponse": _b64(xml), "portico_bounce": "1"}).status_code == 302
    second = client_for("acme.localhost")
    response = second.post("/sso/acs/", {"SAMLResponse": _b64(xml), "portico_bounce": "1"})
    _assert_rejected(second, response, "replay")


def test_tenant_b_idp_cannot_sign_anyone_into_tenant_a(acme, globex_idp):
    client = client_for("acme.localhost")
    _, info = sso_start(client)
    # globex's IdP, trusted for globex, asserts an acme user at acme's ACS with everything else right.
    xml = globex_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="dana@acme.example",
                                    in_response_to=info.id, issuer=globex_idp.entity_id)
    _assert_rejected(client, _post(client, xml), "certificate_mismatch", _acme_users())
    forged_issuer = globex_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="dana@acme.example",
                                              in_response_to=info.id, issuer=IdentityProvider.objects.get(tenant=acme).entity_id)
    _assert_rejected(client, _post(client, forged_issuer), "certificate_mismatch", _acme_users())


def test_an_email_outside_the_tenants_domains_is_rejected_by_default(acme, acme_idp):
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, email="eve@evil.example")
    _assert_rejected(client, _post(client, xml), "email_domain", _acme_users())


def test_an_email_of_a_domain_still_waiting_for_verification_is_refused_until_verified(acme, acme_idp):
    from tenants.services import email_domain_verified_mark, tenant_email_domains_add

    (claim,) = tenant_email_domains_add(tenant=acme, domains=["acme-pending.example"], actor="test")
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, email="pat@acme-pending.example")
    attempt = _assert_rejected(client, _post(client, xml), "email_domain_unverified", _acme_users())
    assert "not verified yet" in attempt.message and "Verify now" in attempt.message
    email_domain_verified_mark(email_domain=claim, method="support", actor="test")
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, email="pat@acme-pending.example")
    assert _post(client, xml).status_code == 302


def test_the_email_domain_restriction_can_be_turned_off_per_tenant(acme, acme_idp):
    _idp_options(acme, restrict_email_domains=False)
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, email="contractor@partner.example")
    assert _post(client, xml).status_code == 302


@pytest.mark.parametrize("relay_state", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_relay_state_cannot_redirect_off_the_host(acme, acme_idp, relay_state):
    member_create(email=f"r{abs(hash(relay_state))}@acme.example", access_level=AccessLevel.TECHNICIAN)
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, email=f"r{abs(hash(relay_state))}@acme.example")
    response = _post(client, xml, relay_state=relay_state)
    assert response.status_code == 302 and response["Location"] == "/"


def test_next_on_the_login_url_is_sanitised_before_it_becomes_relay_state(acme):
    client = client_for("acme.localhost")
    response = client.get("/sso/login/?next=//evil.example/")
    assert "RelayState=%2F&" in response["Location"] or response["Location"].endswith("RelayState=%2F")


@pytest.mark.parametrize("body", ["not base64 !!", base64.b64encode(b"<not-xml").decode(),
                                  base64.b64encode(b"<samlp:Response xmlns:samlp='x'/>").decode()])
def test_garbage_gets_a_clean_error_page(acme, body):
    client = client_for("acme.localhost")
    sso_start(client)
    _assert_rejected(client, client.post("/sso/acs/", {"SAMLResponse": body}), None, _acme_users())


def test_sign_in_on_a_tenant_without_sso_gets_a_clear_page(db):
    from tenants.services import tenant_create

    tenant_create(slug="nosso", name="No SSO Ltd", actor="test")
    response = client_for("nosso.localhost").get("/sso/login/")
    assert response.status_code == 404 and b"set up yet" in response.content


def test_api_me_is_401_when_signed_out(acme_client):
    assert acme_client.get("/api/me").status_code == 401


def test_a_response_without_any_email_is_rejected(acme, acme_idp):
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, name_id="opaque-subject-7f3a",
                           attributes={attacks.EMAIL_CLAIM: [], attacks.EMAIL_CLAIM.replace("emailaddress", "name"): []})
    _assert_rejected(client, _post(client, xml), "attribute_missing", _acme_users())


def test_a_deactivated_account_is_not_signed_in(acme, acme_idp):
    member_create(email="gone@acme.example", access_level=AccessLevel.TECHNICIAN)
    with schema_context("acme"):
        get_user_model().objects.filter(username="gone@acme.example").update(is_active=False)
    client = client_for("acme.localhost")
    xml, _ = _response_for(client, acme_idp, email="gone@acme.example")
    _assert_rejected(client, _post(client, xml), "not_authorized", _acme_users())


def test_an_oversized_form_value_is_refused_before_decoding(acme, acme_idp):
    client = client_for("acme.localhost")
    sso_start(client)
    response = client.post("/sso/acs/", {"SAMLResponse": "A" * (300 * 1024 * 4 // 3), "portico_bounce": "1"})
    assert response.status_code == 413
    _assert_rejected(client, response, "too_large", _acme_users())


def test_an_oversized_form_value_is_refused_before_any_lookup(db):
    from tenants.services import tenant_create

    tenant_create(slug="nosso", name="No SSO Ltd", actor="test")
    client = client_for("nosso.localhost")
    response = client.post("/sso/acs/", {"SAMLResponse": "A" * (300 * 1024 * 4 // 3), "portico_bounce": "1"})
    assert response.status_code == 413 and b"Reference" in response.content
    assert SignInAttempt.objects.order_by("-created", "-id").first().code == "too_large"


def test_a_response_answers_its_request_once(acme, acme_idp):
    """After a sign-in the request is forgotten: a second fresh response to the same request is refused."""
    member_create(email="once@acme.example", access_level=AccessLevel.TECHNICIAN)
    client = client_for("acme.localhost")
    xml, info = _response_for(client, acme_idp, email="once@acme.example")
    assert _post(client, xml).status_code == 302
    client.post("/logout/")
    again = acme_idp.build_response(acs_url=info.acs_url, audience=info.issuer, email="once@acme.example",
                                    in_response_to=info.id)
    _assert_rejected(client, _post(client, again), "unknown_request")


def test_the_attempt_log_names_issuer_and_request_of_a_refused_response(acme, acme_idp):
    client = client_for("acme.localhost")
    _, info = sso_start(client)
    xml = acme_idp.build_response(acs_url=info.acs_url, audience="https://evil.example/sp", email="dana@acme.example",
                                  in_response_to=info.id)
    attempt = _assert_rejected(client, _post(client, xml), "audience_mismatch")
    assert (attempt.issuer, attempt.in_response_to, attempt.response_xml) == (acme_idp.entity_id, info.id, xml)
    assert not attempt.idp_initiated
