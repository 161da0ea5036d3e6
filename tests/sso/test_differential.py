"""Differential test: Portico's sign-in path against stock pysaml2 + xmlsec1 over the whole attack corpus.

Since the ACS stopped running pysaml2's `parse_authn_request_response` (README, Security), Portico's
verifier is the only check a SAMLResponse passes. This test runs every payload of tests/sso/attacks.py,
the protocol variants and genuine responses through both:

- Portico: `sso.saml_guard.verify_saml_response` then `sso.acs.acs_policy_check` (InResponseTo,
  IdP-initiated opt-in, replay, email, email domains) — everything `acs_process` decides on;
- stock: `Saml2Client(...).parse_authn_request_response` with the SP config `sso.conf.sp_config_dict`
  builds for the same IdP certificate, which is what djangosaml2's ACS ran (xmlsec1 subprocess),

and fails wherever Portico accepts a response the stock path refuses, except the deliberate
differences listed in DELIBERATE with their reasons. (Where Portico refuses and pysaml2 accepts, Portico
is stricter on purpose: Recipient, replay, DOCTYPE, comments, wrapping variants, email domain.)

What pysaml2 checked, and the Portico test that now pins each check alone
(tests/sso/test_saml_guard.py unless marked ACS = tests/sso/test_acs.py):
- signature, digest, key from configured metadata only: test_rejects_content_changed_after_signing,
  test_rejects_attacker_key_in_keyinfo, test_rejects_real_certificate_pasted_over_attacker_signature,
  test_rejects_stripped_signature, test_rejects_missing_signature_value, test_rejects_signature_wrapping
- signature required on Response or Assertion (want_assertions_or_response_signed): test_rejects_response_built_unsigned
- Response/Assertion Issuer is the IdP: test_rejects_wrong_issuer, test_rejects_response_issuer_differing_from_assertion_issuer,
  test_rejects_assertion_issued_by_another_idp_under_the_right_response_issuer, test_rejects_assertion_without_issuer
- Audience (AudienceRestriction): test_rejects_wrong_audience
- Destination: test_rejects_wrong_destination, test_rejects_signed_response_without_destination
- Recipient (pysaml2 only with conv_info; djangosaml2 passes none): test_rejects_wrong_or_missing_recipient
- Conditions NotBefore/NotOnOrAfter: test_rejects_conditions_not_yet_valid_while_the_confirmation_holds,
  test_rejects_assertion_whose_conditions_expired_while_its_confirmation_still_holds
- SubjectConfirmationData NotOnOrAfter/NotBefore, bearer method: test_rejects_expired_subject_confirmation_even_if_conditions_still_hold,
  test_rejects_subject_confirmation_not_yet_valid_while_the_conditions_hold
- InResponseTo is an outstanding request / unsolicited only where allowed: ACS test_in_response_to_for_a_request_never_issued_is_rejected_even_with_idp_initiated_on,
  test_a_request_issued_in_another_browser_is_rejected, test_an_unsolicited_response_is_rejected_where_idp_initiated_is_off;
  InResponseTo consistent between Response and Assertion: test_rejects_signed_in_response_to_differing_from_the_responses
- Status Success: test_rejects_failed_status_and_reports_it
- Version 2.0 (Response and Assertion): test_rejects_saml_versions_other_than_2_0
- Subject and NameID present: test_rejects_missing_name_id
- encrypted parts of an assertion (EncryptedID/EncryptedAttribute; whole EncryptedAssertions Portico decrypts itself,
  tests/sso/test_encrypted_assertions.py): test_rejects_encrypted_id_in_a_plain_assertion
- response not a samlp:Response: test_rejects_non_response_root
"""
from __future__ import annotations

import base64
import inspect
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from django.conf import settings
from lxml import etree
from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client
from saml2.config import SPConfig

from sso.acs import acs_policy_check
from sso.conf import sp_config_dict
from sso.errors import SignInRejected
from sso.models import IdentityProvider
from sso.saml_guard import SamlRejected, verify_saml_response
from sso.sp import sp_endpoints
from testidp.idp import TestIdP
from testidp.keys import generate_keypair
from tests.sso import attacks
from tests.sso.attacks import SAML_NS

ATTACKER = generate_keypair("Attacker")
DOMAIN = "diff.example"
EMAIL = f"dana@{DOMAIN}"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"

# Where Portico accepts what stock pysaml2 refuses, on purpose. Each needs a reason. Empty: over this
# corpus Portico accepts only the genuine responses. The reverse is common and intended; measured on
# this machine, stock pysaml2 (as djangosaml2 calls it, no conv_info) accepts: wrong_destination,
# signed_response_without_destination, wrong_recipient, request_never_issued (with unsolicited on),
# email_outside_domains, xsw7, duplicate_assertion_id, inject_comment_in_name_id_resigned,
# make_oversized, set_version_assertion.
DELIBERATE: dict[str, str] = {}

# Builders: (idp, request_id, endpoints) -> (xml, allow_idp_initiated). Each builds a fresh response, so
# one case's replay record never refuses another.
Builder = Callable[[TestIdP, str, object], tuple[str, bool]]


def _build(idp: TestIdP, request_id: str | None, endpoints, **overrides) -> str:
    kwargs = dict(acs_url=endpoints.acs_url, audience=endpoints.entity_id, email=EMAIL, in_response_to=request_id)
    kwargs.update(overrides)
    return idp.build_response(**kwargs)


def _sp(**overrides) -> Builder:
    return lambda idp, rid, ep: (_build(idp, rid, ep, **overrides), False)


def _attack(attack: Callable[..., str], *args_of: Callable[[TestIdP], object], base: dict | None = None,
            **kwargs) -> Builder:
    return lambda idp, rid, ep: (attack(_build(idp, rid, ep, **(base or {})), *(a(idp) for a in args_of), **kwargs),
                                 False)


def _idp_key(idp: TestIdP):
    return idp.keypair


def _attacker(_idp: TestIdP):
    return ATTACKER


def _real_cert(idp: TestIdP):
    return idp.keypair.cert_pem


def _comment_resigned(idp: TestIdP, rid: str, ep) -> tuple[str, bool]:
    def edit(root: etree._Element) -> None:
        attacks.set_markup(root.find(f".//{{{SAML_NS}}}NameID"), f"dana@{DOMAIN}<!---->.evil.example")
    return attacks.resign_with(_build(idp, rid, ep), idp.keypair, name_id=None, edit=edit), False


RESPONSE_SIGNED = {"sign_assertion": False, "sign_response": True}
BOTH = {"sign_assertion": True, "sign_response": True}
NOW = datetime.now(UTC)

VALID: dict[str, Builder] = {
    "valid_assertion_signed": _sp(),
    "valid_response_signed": _sp(**RESPONSE_SIGNED),
    "valid_both_signed": _sp(**BOTH),
    "valid_idp_initiated_where_allowed": lambda idp, rid, ep: (_build(idp, None, ep), True),
}

CORPUS: dict[str, Builder] = {
    **VALID,
    # protocol variants
    "expired": _sp(issue_instant=NOW - timedelta(hours=1)),
    "not_yet_valid": _sp(issue_instant=NOW + timedelta(hours=1)),
    "wrong_audience": _sp(audience="https://evil.example/sp"),
    "wrong_destination": _sp(destination="https://evil.example/acs"),
    "signed_response_without_destination": _sp(destination=None, **RESPONSE_SIGNED),
    "wrong_recipient": _sp(recipient="https://evil.example/acs"),
    "missing_recipient": _sp(recipient=None),
    "wrong_issuer": _sp(issuer="https://sts.windows.net/another-tenant/"),
    "status_not_success": _sp(status_code=STATUS_REQUESTER),
    "signed_by_unknown_key": _sp(signing_keypair=ATTACKER),
    "unsigned": _sp(sign_assertion=False, sign_response=False),
    "request_never_issued": lambda idp, rid, ep: (_build(idp, "_never-issued", ep), True),
    "unsolicited_where_off": lambda idp, rid, ep: (_build(idp, None, ep), False),
    "email_outside_domains": _sp(email="eve@evil.example"),
    # every payload of tests/sso/attacks.py
    **{f"xsw{n}": _attack(getattr(attacks, f"xsw{n}"), base=RESPONSE_SIGNED) for n in (1, 2)},
    **{f"xsw{n}": _attack(getattr(attacks, f"xsw{n}")) for n in range(3, 9)},
    **{f"xsw{n}_both_signed": _attack(getattr(attacks, f"xsw{n}"), base=BOTH) for n in range(3, 9)},
    "duplicate_assertion_id": _attack(attacks.duplicate_assertion_id),
    "move_signature_to_response": _attack(attacks.move_signature_to_response),
    "change_name_id": _attack(attacks.change_name_id),
    "add_attribute": _attack(attacks.add_attribute),
    "smuggle_digest_value": _attack(attacks.smuggle_digest_value),
    "second_signed_info": _attack(attacks.second_signed_info),
    "strip_signature": _attack(attacks.strip_signature),
    "remove_signature_value": _attack(attacks.remove_signature_value),
    "resign_with_attacker_key": _attack(attacks.resign_with, _attacker),
    "resign_with_attacker_key_both": _attack(attacks.resign_with, _attacker, base=BOTH),
    "paste_real_cert_over_attacker_signature": _attack(attacks.paste_real_cert_over_attacker_signature,
                                                       _attacker, _real_cert),
    "replace_keyinfo_with_rsakeyvalue": _attack(attacks.replace_keyinfo_with_rsakeyvalue, _attacker),
    "inject_comment_in_name_id": _attack(attacks.inject_comment_in_name_id, marked_up=f"dana@{DOMAIN}<!---->.evil.example"),
    "inject_comment_in_name_id_resigned": _comment_resigned,
    "inject_comment_in_attribute": _attack(attacks.inject_comment_in_attribute, marked_up=f"dana@{DOMAIN}<!---->.evil.example"),
    "add_doctype_xxe": _attack(attacks.add_doctype_xxe),
    "add_billion_laughs": _attack(attacks.add_billion_laughs),
    "add_xslt_transform": _attack(attacks.add_xslt_transform),
    "make_oversized": _attack(attacks.make_oversized),
    "expire_conditions_only": _attack(attacks.expire_conditions_only, _idp_key),
    "conditions_not_yet_valid_only": _attack(attacks.conditions_not_yet_valid_only, _idp_key),
    "confirmation_not_yet_valid_only": _attack(attacks.confirmation_not_yet_valid_only, _idp_key),
    "assertion_issuer_only": _attack(attacks.assertion_issuer_only, _idp_key),
    "drop_assertion_issuer": _attack(attacks.drop_assertion_issuer, _idp_key),
    "mismatch_in_response_to": _attack(attacks.mismatch_in_response_to, _idp_key, base=BOTH),
    "set_version_response": _attack(attacks.set_version, _idp_key, base=BOTH, on="response"),
    "set_version_assertion": _attack(attacks.set_version, _idp_key, base=BOTH, on="assertion"),
}

# Helpers of attacks.py that build no payload of their own.
NOT_PAYLOADS = {"parse", "serialize", "set_markup"}


@pytest.fixture(scope="module")
def idp() -> TestIdP:
    return TestIdP("https://idp.diff.example")


@pytest.fixture(scope="module")
def endpoints():
    return sp_endpoints(host="diff.localhost")


def _portico_accepts(idp: TestIdP, endpoints, b64: str, *, request_id: str, allow_idp_initiated: bool) -> str | None:
    """None if Portico accepts, else the refusal code."""
    row = IdentityProvider(entity_id=idp.entity_id, allow_idp_initiated=allow_idp_initiated,
                           restrict_email_domains=True)
    try:
        verified = verify_saml_response(
            saml_response=b64, idp_entity_id=idp.entity_id, idp_certificates=[idp.keypair.cert_pem],
            sp_entity_id=endpoints.entity_id, acs_url=endpoints.acs_url,
            clock_skew=timedelta(seconds=settings.PORTICO_SAML_CLOCK_SKEW_SECONDS),
            max_bytes=settings.PORTICO_SAML_MAX_RESPONSE_BYTES)
        acs_policy_check(verified=verified, idp=row, outstanding={request_id: "/"}, email_domains=[DOMAIN])
    except (SamlRejected, SignInRejected) as refusal:
        return str(refusal.code)
    return None


def _stock_accepts(idp: TestIdP, endpoints, b64: str, *, request_id: str, allow_idp_initiated: bool) -> str | None:
    """None if stock pysaml2 (xmlsec1) accepts, else what it raised."""
    config = SPConfig().load(sp_config_dict(
        entity_id=idp.entity_id, sso_url=idp.sso_url, certificate_pems=[idp.keypair.cert_pem],
        allow_idp_initiated=allow_idp_initiated, endpoints=endpoints, tenant_name="Differential"))
    try:
        response = Saml2Client(config).parse_authn_request_response(b64, BINDING_HTTP_POST, {request_id: "/"})
    except Exception as exc:  # pysaml2 raises bare Exceptions for some checks; any raise is a refusal
        return type(exc).__name__
    return None if response is not None else "None"


def test_the_corpus_holds_every_payload_of_the_attack_module() -> None:
    public = {name for name, fn in inspect.getmembers(attacks, inspect.isfunction)
              if not name.startswith("_") and fn.__module__ == attacks.__name__}
    named = {name.removesuffix("_both_signed").removesuffix("_both").removesuffix("_resigned") for name in CORPUS}
    named |= {"resign_with", "set_version"} if {"resign_with_attacker_key", "set_version_response"} <= set(CORPUS) else set()
    missing = public - NOT_PAYLOADS - named
    assert not missing, f"add these attacks.py payloads to the differential corpus: {sorted(missing)}"


@pytest.mark.parametrize("name", list(CORPUS))
@pytest.mark.django_db  # the replay store records consumed assertions in PostgreSQL too
def test_portico_accepts_nothing_stock_pysaml2_refuses(idp: TestIdP, endpoints, name: str, caplog) -> None:
    caplog.set_level(logging.CRITICAL, logger="saml2")
    request_id = f"_diff-{uuid4().hex}"
    xml, allow_idp_initiated = CORPUS[name](idp, request_id, endpoints)
    b64 = base64.b64encode(xml.encode()).decode()
    stock = _stock_accepts(idp, endpoints, b64, request_id=request_id, allow_idp_initiated=allow_idp_initiated)
    portico = _portico_accepts(idp, endpoints, b64, request_id=request_id, allow_idp_initiated=allow_idp_initiated)
    if name in VALID:
        assert (portico, stock) == (None, None), f"a genuine response must pass both: Portico {portico}, stock {stock}"
    elif portico is None and name not in DELIBERATE:
        assert stock is None, f"Portico accepts {name!r}, which stock pysaml2 refuses ({stock})"
    if name not in VALID:
        assert portico is not None or name in DELIBERATE, f"Portico accepts the attack {name!r}"
