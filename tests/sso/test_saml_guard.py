"""sso.saml_guard against real responses of the test IdP, signed for real and then attacked.

Rows refer to docs/security-checklist.md. Nothing here mocks the
signature check: every payload is a genuine signed response, rewritten by
tests/sso/attacks.py the way the published attack does it.
"""
from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier

from sso.saml_guard import SamlRejected, _bind_signed_element, verify_saml_response
from sso.types import RejectCode, VerifiedResponse
from testidp.idp import TestIdP
from testidp.keys import KeyPair, generate_keypair
from testidp.signing import sign_enveloped
from tests.sso import attacks
from tests.sso.attacks import DS_NS, SAML_NS

ACS_URL = "https://acme.portico.example/sso/acs/"
SP_ENTITY_ID = "https://acme.portico.example/sso/metadata/"
EMAIL = "alice@corp.example"
REQUEST_ID = "_request-7d1f0c"

SIGNING_MODES = {
    "assertion": dict(sign_assertion=True, sign_response=False),
    "response": dict(sign_assertion=False, sign_response=True),
    "both": dict(sign_assertion=True, sign_response=True),
}


@pytest.fixture(scope="module")
def idp() -> TestIdP:
    return TestIdP("https://idp.corp.example")


@pytest.fixture(scope="module")
def attacker() -> KeyPair:
    return generate_keypair("Totally Portico Test IdP")


def build(idp: TestIdP, **overrides: object) -> str:
    kwargs: dict[str, object] = dict(acs_url=ACS_URL, audience=SP_ENTITY_ID, email=EMAIL, in_response_to=REQUEST_ID)
    kwargs.update(overrides)
    return idp.build_response(**kwargs)  # type: ignore[arg-type]


def b64(xml: str | bytes) -> str:
    return base64.b64encode(xml.encode("utf-8") if isinstance(xml, str) else xml).decode("ascii")


def verify(idp: TestIdP, xml: str | bytes, **overrides: object) -> VerifiedResponse:
    kwargs: dict[str, object] = dict(
        saml_response=b64(xml),
        idp_entity_id=idp.entity_id,
        idp_certificates=[idp.keypair.cert_pem],
        sp_entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL,
    )
    kwargs.update(overrides)
    return verify_saml_response(**kwargs)  # type: ignore[arg-type]


def rejected(idp: TestIdP, xml: str | bytes, code: RejectCode, **overrides: object) -> SamlRejected:
    with pytest.raises(SamlRejected) as info:
        verify(idp, xml, **overrides)
    assert info.value.code == code, info.value.detail
    assert info.value.detail and info.value.detail.endswith("."), "detail must be a sentence for an admin"
    return info.value


def signature_still_valid(idp: TestIdP, xml: str) -> bool:
    """What a naive verifier (signxml, any location) would say about the tampered document."""
    try:
        XMLVerifier().verify(
            xml.encode("utf-8"),
            x509_cert=idp.keypair.cert_pem,
            expect_config=SignatureConfiguration(location=f"./{{{SAML_NS}}}Assertion/"),
        )
    except Exception:
        return False
    return True


# --- happy paths ---


@pytest.mark.parametrize("mode", list(SIGNING_MODES))
def test_accepts_genuine_response_whichever_part_is_signed(idp: TestIdP, mode: str) -> None:
    result = verify(idp, build(idp, **SIGNING_MODES[mode]))

    expected_parts = {"assertion": {"assertion"}, "response": {"response"}, "both": {"assertion", "response"}}[mode]
    assert result.signed_parts == frozenset(expected_parts)
    assert result.name_id == EMAIL
    assert result.issuer == idp.entity_id
    assert result.in_response_to == REQUEST_ID
    assert result.attributes[attacks.EMAIL_CLAIM] == [EMAIL]


def test_verified_response_carries_what_the_acs_needs(idp: TestIdP) -> None:
    issued = datetime.now(timezone.utc).replace(microsecond=0)
    xml = build(idp, issue_instant=issued, lifetime=timedelta(minutes=5))
    root = etree.fromstring(xml.encode())

    result = verify(idp, xml)

    assert result.response_id == root.get("ID")
    assert result.assertion_id == root.find(f"{{{SAML_NS}}}Assertion").get("ID")
    assert result.session_index == result.assertion_id  # Entra reuses the assertion ID
    assert result.name_id_format == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert result.not_on_or_after == issued + timedelta(minutes=5)  # replay-cache TTL
    assert result.xml == xml


def test_replay_ttl_is_the_earliest_not_on_or_after(idp: TestIdP) -> None:
    issued = datetime.now(timezone.utc).replace(microsecond=0)
    short = (issued + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def shorten_confirmation(root: etree._Element) -> None:
        root.find(f".//{{{SAML_NS}}}SubjectConfirmationData").set("NotOnOrAfter", short)

    xml = attacks.resign_with(build(idp, issue_instant=issued), idp.keypair, name_id=None, edit=shorten_confirmation)

    assert verify(idp, xml).not_on_or_after == issued + timedelta(minutes=2)


def test_accepts_signature_by_second_certificate_during_rotation(idp: TestIdP) -> None:
    new_keypair = generate_keypair("Portico Test IdP 2027")
    xml = build(idp, signing_keypair=new_keypair)

    result = verify(idp, xml, idp_certificates=[idp.keypair.cert_pem, new_keypair.cert_pem])

    assert result.name_id == EMAIL


def test_accepts_certificate_given_as_bare_base64_from_metadata(idp: TestIdP) -> None:
    assert verify(idp, build(idp), idp_certificates=[idp.keypair.cert_base64]).name_id == EMAIL


def test_accepts_lapsed_pinned_certificate(idp: TestIdP) -> None:
    # Trust is the pinned key, not its dates: Entra keeps signing with a lapsed
    # certificate until the admin rotates it, and refusing would lock everyone out.
    now = datetime.now(timezone.utc)
    lapsed = generate_keypair(valid_from=now - timedelta(days=800), valid_until=now - timedelta(days=5))
    xml = build(idp, signing_keypair=lapsed)

    assert verify(idp, xml, idp_certificates=[lapsed.cert_pem]).name_id == EMAIL


def test_accepts_pretty_printed_response_signed_as_such(idp: TestIdP) -> None:
    # ADFS and Shibboleth indent their XML: the whitespace left where the
    # enveloped signature was removed must not look like wrapping.
    unsigned = etree.fromstring(build(idp, sign_assertion=False).encode())
    etree.indent(unsigned, space="  ")
    pretty = etree.tostring(unsigned, encoding="unicode")
    xml = _sign_assertion_and_response_of_unsigned(idp, pretty)

    assert "\n  <saml" in xml or "\n  <Assertion" in xml
    assert verify(idp, xml).signed_parts == frozenset({"assertion", "response"})


def _sign_assertion_and_response_of_unsigned(idp: TestIdP, xml: str) -> str:
    root = etree.fromstring(xml.encode())
    root = sign_enveloped(root, root.find(f"{{{SAML_NS}}}Assertion"), idp.keypair)
    root = sign_enveloped(root, root, idp.keypair)
    return etree.tostring(root, encoding="unicode")


def test_accepts_line_wrapped_base64(idp: TestIdP) -> None:
    encoded = b64(build(idp))
    wrapped = "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))

    assert verify(idp, "", saml_response=wrapped).name_id == EMAIL


def test_accepts_clock_skew_within_tolerance(idp: TestIdP) -> None:
    expired_a_minute_ago = datetime.now(timezone.utc) - timedelta(minutes=6)
    xml = build(idp, issue_instant=expired_a_minute_ago, lifetime=timedelta(minutes=5))

    assert verify(idp, xml, clock_skew=timedelta(seconds=120)).name_id == EMAIL


# --- row 1: XML Signature Wrapping, duplicate IDs ---

XSW_EXPECTED = {
    # XSW1/2 wrap the whole signed Response (needs a response signature).
    "xsw1": ("response", RejectCode.signature_wrapping),
    "xsw2": ("response", RejectCode.signature_wrapping),
    "xsw3": ("assertion", RejectCode.assertion_count),
    "xsw4": ("assertion", RejectCode.assertion_count),
    "xsw5": ("assertion", RejectCode.assertion_count),
    "xsw6": ("assertion", RejectCode.assertion_count),
    "xsw7": ("assertion", RejectCode.assertion_count),
    "xsw8": ("assertion", RejectCode.assertion_count),
}


@pytest.mark.parametrize("variant", list(XSW_EXPECTED))
def test_rejects_signature_wrapping(idp: TestIdP, variant: str) -> None:
    mode, code = XSW_EXPECTED[variant]
    xml = attacks.XSW_ATTACKS[variant](build(idp, **SIGNING_MODES[mode]))
    assert attacks.EVIL_NAME_ID in xml

    rejected(idp, xml, code)


@pytest.mark.parametrize("variant", ["xsw3", "xsw4", "xsw5", "xsw6", "xsw7", "xsw8"])
def test_rejects_assertion_wrapping_when_both_parts_are_signed(idp: TestIdP, variant: str) -> None:
    rejected(idp, attacks.XSW_ATTACKS[variant](build(idp, **SIGNING_MODES["both"])), RejectCode.assertion_count)


def test_rejects_duplicate_ids(idp: TestIdP) -> None:
    rejected(idp, attacks.duplicate_assertion_id(build(idp)), RejectCode.duplicate_id)


def test_rejects_signature_moved_off_the_element_it_signs(idp: TestIdP) -> None:
    error = rejected(idp, attacks.move_signature_to_response(build(idp)), RejectCode.signature_wrapping)
    # Refused by the Reference check, before signxml: the admin is told which element it names.
    assert "instead of the element it is on" in error.detail


def test_rejects_assertion_signature_hidden_in_advice(idp: TestIdP) -> None:
    root = attacks.parse(build(idp))
    assertion = root.find(f"{{{SAML_NS}}}Assertion")
    advice = etree.SubElement(assertion, f"{{{SAML_NS}}}Advice")
    advice.append(assertion.find(f"{{{DS_NS}}}Signature"))

    rejected(idp, attacks.serialize(root), RejectCode.signature_wrapping)


def test_identity_is_bound_to_the_element_the_signature_covers(idp: TestIdP) -> None:
    # The last line of defence, exercised directly: a genuinely verified
    # assertion of one response must not vouch for another response's assertion.
    victim, other = build(idp, email="alice@corp.example"), build(idp, email="mallory@corp.example")
    verified = XMLVerifier().verify(
        victim.encode(),
        x509_cert=idp.keypair.cert_pem,
        expect_config=SignatureConfiguration(location=f"./{{{SAML_NS}}}Assertion/"),
    )
    other_assertion = etree.fromstring(other.encode()).find(f"{{{SAML_NS}}}Assertion")

    with pytest.raises(SamlRejected) as info:
        _bind_signed_element(verified, parent=other_assertion, part="assertion")
    assert info.value.code == RejectCode.signature_wrapping


# --- row 2: content changed after signing ---


@pytest.mark.parametrize("mode", list(SIGNING_MODES))
@pytest.mark.parametrize("tamper", [attacks.change_name_id, attacks.add_attribute], ids=["name_id", "attribute"])
def test_rejects_content_changed_after_signing(idp: TestIdP, mode: str, tamper: Callable[[str], str]) -> None:
    error = rejected(idp, tamper(build(idp, **SIGNING_MODES[mode])), RejectCode.signature_invalid)
    assert "changed after the IdP signed it" in error.detail


# --- row 3: smuggled DigestValue / second SignedInfo ---


def test_rejects_smuggled_digest_value(idp: TestIdP) -> None:
    rejected(idp, attacks.smuggle_digest_value(build(idp)), RejectCode.signature_wrapping)


def test_rejects_second_signed_info(idp: TestIdP) -> None:
    rejected(idp, attacks.second_signed_info(build(idp)), RejectCode.signature_wrapping)


# --- row 4: signature stripped ---


@pytest.mark.parametrize("mode", list(SIGNING_MODES))
def test_rejects_stripped_signature(idp: TestIdP, mode: str) -> None:
    rejected(idp, attacks.strip_signature(build(idp, **SIGNING_MODES[mode])), RejectCode.unsigned)


def test_rejects_response_built_unsigned(idp: TestIdP) -> None:
    rejected(idp, build(idp, sign_assertion=False, sign_response=False), RejectCode.unsigned)


@pytest.mark.parametrize("mode", list(SIGNING_MODES))
def test_rejects_missing_signature_value(idp: TestIdP, mode: str) -> None:
    rejected(idp, attacks.remove_signature_value(build(idp, **SIGNING_MODES[mode])), RejectCode.signature_invalid)


def test_rejects_valid_response_signature_with_broken_assertion_signature(idp: TestIdP) -> None:
    # Every signature present must hold, not just one of them.
    root = attacks.parse(build(idp, **SIGNING_MODES["assertion"]))
    value = root.find(f".//{{{DS_NS}}}SignatureValue")
    value.text = base64.b64encode(b"\x00" * 256).decode()

    resigned = etree.tostring(sign_enveloped(root, root, idp.keypair), encoding="unicode")

    rejected(idp, resigned, RejectCode.signature_invalid)


# --- row 5: key substitution ---


@pytest.mark.parametrize("mode", list(SIGNING_MODES))
def test_rejects_attacker_key_in_keyinfo(idp: TestIdP, attacker: KeyPair, mode: str) -> None:
    xml = attacks.resign_with(build(idp, **SIGNING_MODES[mode]), attacker)

    error = rejected(idp, xml, RejectCode.certificate_mismatch)
    assert "SHA-256 fingerprint" in error.detail and "re-import its metadata" in error.detail


def test_rejects_real_certificate_pasted_over_attacker_signature(idp: TestIdP, attacker: KeyPair) -> None:
    xml = attacks.paste_real_cert_over_attacker_signature(build(idp), attacker, idp.keypair.cert_pem)

    rejected(idp, xml, RejectCode.signature_invalid)


def test_rejects_bare_rsa_key_value(idp: TestIdP, attacker: KeyPair) -> None:
    rejected(idp, attacks.replace_keyinfo_with_rsakeyvalue(build(idp), attacker), RejectCode.certificate_mismatch)


def test_rejects_genuine_response_of_another_tenants_idp(idp: TestIdP) -> None:
    other_tenants_idp = TestIdP("https://idp.other.example", entity_id=idp.entity_id)

    rejected(idp, build(other_tenants_idp), RejectCode.certificate_mismatch)


# --- row 6: comment / text-node injection ---


def test_rejects_comment_in_name_id_although_the_signature_still_holds(idp: TestIdP) -> None:
    # The IdP really signed "alice@corp.example.evil.example" (a user the attacker
    # owns); exclusive c14n drops comments, so splitting it keeps the digest.
    signed = build(idp, email="alice@corp.example.evil.example")
    xml = attacks.inject_comment_in_name_id(signed, "alice@corp.example<!---->.evil.example")
    assert signature_still_valid(idp, xml), "the comment attack must leave the signature valid"

    rejected(idp, xml, RejectCode.comment_injection)


@pytest.mark.parametrize(
    "marked_up",
    ["alice@corp.example<?pi x?>.evil.example", "alice@corp.example<b/>.evil.example"],
    ids=["processing-instruction", "element"],
)
def test_rejects_split_name_id_even_when_signed(idp: TestIdP, marked_up: str) -> None:
    # c14n keeps PIs and elements, so these only get past the digest if the IdP
    # itself signed them; the text must still never be read truncated.
    def split_name_id(root: etree._Element) -> None:
        attacks.set_markup(root.find(f".//{{{SAML_NS}}}NameID"), marked_up)

    xml = attacks.resign_with(build(idp), idp.keypair, name_id=None, edit=split_name_id)

    rejected(idp, xml, RejectCode.comment_injection)


def test_rejects_comment_in_email_attribute(idp: TestIdP) -> None:
    xml = attacks.inject_comment_in_attribute(build(idp, email="alice@corp.example.evil.example"))
    assert signature_still_valid(idp, xml)

    rejected(idp, xml, RejectCode.comment_injection)


def test_rejects_comments_with_canonicalisation_that_signs_them(idp: TestIdP) -> None:
    xml = attacks.resign_with(
        build(idp),
        idp.keypair,
        name_id=None,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS,
    )

    # Named for what it is: the admin learns that "with comments" is the problem, not c14n as such.
    assert "with comments" in rejected(idp, xml, RejectCode.unsupported_algorithm).detail


# --- row 7: time ---


def test_rejects_expired_assertion(idp: TestIdP) -> None:
    xml = build(idp, issue_instant=datetime.now(timezone.utc) - timedelta(minutes=10))

    rejected(idp, xml, RejectCode.expired)


def test_rejects_assertion_not_yet_valid(idp: TestIdP) -> None:
    xml = build(idp, issue_instant=datetime.now(timezone.utc) + timedelta(minutes=10))

    rejected(idp, xml, RejectCode.not_yet_valid)


def test_rejects_expired_subject_confirmation_even_if_conditions_still_hold(idp: TestIdP) -> None:
    past = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def expire_confirmation(root: etree._Element) -> None:
        root.find(f".//{{{SAML_NS}}}SubjectConfirmationData").set("NotOnOrAfter", past)

    xml = attacks.resign_with(build(idp), idp.keypair, name_id=None, edit=expire_confirmation)

    error = rejected(idp, xml, RejectCode.expired)
    assert "confirmation" in error.detail


def test_skew_is_configurable(idp: TestIdP) -> None:
    expired_a_minute_ago = datetime.now(timezone.utc) - timedelta(minutes=6)
    xml = build(idp, issue_instant=expired_a_minute_ago, lifetime=timedelta(minutes=5))

    rejected(idp, xml, RejectCode.expired, clock_skew=timedelta(seconds=10))


def test_now_can_be_injected(idp: TestIdP) -> None:
    xml = build(idp)

    rejected(idp, xml, RejectCode.expired, now=datetime.now(timezone.utc) + timedelta(hours=1))


# --- row 8: audience, destination, recipient, issuer, status ---


def test_rejects_wrong_audience(idp: TestIdP) -> None:
    xml = build(idp, audience="https://other.portico.example/sso/metadata/")

    error = rejected(idp, xml, RejectCode.audience_mismatch)
    assert SP_ENTITY_ID in error.detail


def test_rejects_wrong_destination(idp: TestIdP) -> None:
    rejected(idp, build(idp, destination="https://other.portico.example/sso/acs/"), RejectCode.destination_mismatch)


def test_rejects_signed_response_without_destination(idp: TestIdP) -> None:
    rejected(idp, build(idp, destination=None, **SIGNING_MODES["response"]), RejectCode.destination_mismatch)


def test_accepts_unsigned_response_without_destination(idp: TestIdP) -> None:
    assert verify(idp, build(idp, destination=None)).name_id == EMAIL


@pytest.mark.parametrize("recipient", ["https://other.portico.example/sso/acs/", SP_ENTITY_ID, None])
def test_rejects_wrong_or_missing_recipient(idp: TestIdP, recipient: str | None) -> None:
    # pysaml2 skips this check unless conv_info is passed, and accepts the SP entity ID as Recipient.
    rejected(idp, build(idp, recipient=recipient), RejectCode.recipient_mismatch)


def test_rejects_wrong_issuer(idp: TestIdP) -> None:
    rejected(idp, build(idp, issuer="https://sts.windows.net/another-tenant/"), RejectCode.issuer_mismatch)


def test_rejects_response_issuer_differing_from_assertion_issuer(idp: TestIdP) -> None:
    root = attacks.parse(build(idp))
    root.find(f"{{{SAML_NS}}}Issuer").text = "https://sts.windows.net/another-tenant/"

    rejected(idp, attacks.serialize(root), RejectCode.issuer_mismatch)


def test_rejects_in_response_to_differing_between_response_and_assertion(idp: TestIdP) -> None:
    root = attacks.parse(build(idp))
    root.set("InResponseTo", "_another-request")

    rejected(idp, attacks.serialize(root), RejectCode.in_response_to_mismatch)


def test_rejects_failed_status_and_reports_it(idp: TestIdP) -> None:
    xml = build(idp, status_code="urn:oasis:names:tc:SAML:2.0:status:Responder")

    error = rejected(idp, xml, RejectCode.status)
    assert "urn:oasis:names:tc:SAML:2.0:status:Responder" in error.detail


def test_rejects_encrypted_assertion(idp: TestIdP) -> None:
    root = attacks.parse(build(idp))
    assertion = root.find(f"{{{SAML_NS}}}Assertion")
    encrypted = etree.Element(f"{{{SAML_NS}}}EncryptedAssertion")
    etree.SubElement(encrypted, f"{{{attacks.XENC_NS}}}EncryptedData")
    assertion.addprevious(encrypted)
    root.remove(assertion)

    error = rejected(idp, attacks.serialize(root), RejectCode.encrypted_assertion)
    assert "turn it off" in error.detail


def test_rejects_missing_name_id(idp: TestIdP) -> None:
    def drop_name_id(root: etree._Element) -> None:
        name_id = root.find(f".//{{{SAML_NS}}}NameID")
        name_id.getparent().remove(name_id)

    xml = attacks.resign_with(build(idp), idp.keypair, name_id=None, edit=drop_name_id)

    rejected(idp, xml, RejectCode.missing_subject)


def test_rejects_non_response_root(idp: TestIdP) -> None:
    assertion = etree.fromstring(build(idp).encode()).find(f"{{{SAML_NS}}}Assertion")

    rejected(idp, etree.tostring(assertion), RejectCode.malformed)


# --- row 13: DOCTYPE, entities, XSLT, size, algorithms ---


@pytest.mark.parametrize("attack", [attacks.add_doctype_xxe, attacks.add_billion_laughs], ids=["xxe", "billion-laughs"])
def test_rejects_doctype(idp: TestIdP, attack: Callable[[str], str]) -> None:
    rejected(idp, attack(build(idp)), RejectCode.doctype)


def test_rejects_doctype_hidden_in_utf16(idp: TestIdP) -> None:
    declared_utf16 = '<?xml version="1.0" encoding="UTF-16"?>'
    xml = attacks.add_doctype_xxe(build(idp)).replace('<?xml version="1.0"?>', declared_utf16)

    rejected(idp, xml.encode("utf-16"), RejectCode.malformed)


def test_rejects_xslt_transform(idp: TestIdP) -> None:
    rejected(idp, attacks.add_xslt_transform(build(idp)), RejectCode.unsupported_algorithm)


def test_rejects_transform_list_other_than_enveloped_plus_exclusive_c14n(idp: TestIdP) -> None:
    root = attacks.parse(build(idp))
    transforms = root.find(f".//{{{DS_NS}}}Transforms")
    etree.SubElement(transforms, f"{{{DS_NS}}}Transform", Algorithm=attacks.EXC_C14N)  # each one allowed, the list not

    assert "transform list" in rejected(idp, attacks.serialize(root), RejectCode.unsupported_algorithm).detail


def test_rejects_oversized_response(idp: TestIdP) -> None:
    rejected(idp, attacks.make_oversized(build(idp)), RejectCode.too_large)


def test_rejects_a_document_one_byte_over_the_cap_whose_base64_fits(idp: TestIdP) -> None:
    xml = build(idp).encode()
    xml += b" " * ((3 - len(xml) % 3) % 3)  # a multiple of 3: one byte less encodes to as many characters
    assert len(base64.b64encode(xml)) == len(base64.b64encode(xml[:-1] + b"x")) and len(xml) % 3 == 0

    rejected(idp, xml, RejectCode.too_large, max_bytes=len(xml) - 1)


def test_rejects_oversized_base64_before_decoding(idp: TestIdP) -> None:
    rejected(idp, b"", RejectCode.too_large, saml_response="A" * (600 * 1024))


@pytest.mark.parametrize(
    "algorithms",
    [
        dict(digest_algorithm=DigestAlgorithm.SHA1),
        dict(signature_algorithm=SignatureMethod.RSA_SHA1),
        dict(c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_1),
    ],
    ids=["sha1-digest", "rsa-sha1", "inclusive-c14n"],
)
def test_rejects_unsupported_algorithms_even_when_signed_by_the_idp(
    idp: TestIdP, algorithms: dict[str, object]
) -> None:
    xml = attacks.resign_with(build(idp), idp.keypair, name_id=None, **algorithms)  # type: ignore[arg-type]

    rejected(idp, xml, RejectCode.unsupported_algorithm)


@pytest.mark.parametrize("value", ["not base64!", "PHNhbWxwOlJlc3BvbnNl", ""], ids=["not-base64", "not-xml", "empty"])
def test_rejects_undecodable_input(idp: TestIdP, value: str) -> None:
    rejected(idp, b"", RejectCode.malformed, saml_response=value)


def test_configuration_errors_are_not_rejections(idp: TestIdP) -> None:
    with pytest.raises(ValueError):
        verify(idp, build(idp), idp_certificates=[])
    with pytest.raises(ValueError):
        verify(idp, build(idp), now=datetime.now())


# --- one property wrong, re-signed by the IdP: each check pinned by a payload only it can refuse ---
# The payloads above often break several properties at once (an old response is outside both time
# windows; a wrong issuer sits on the Response and the Assertion), so removing one check would be
# hidden by an earlier one. These are genuine IdP signatures over a document with exactly one flaw.


def test_rejects_assertion_whose_conditions_expired_while_its_confirmation_still_holds(idp: TestIdP) -> None:
    xml = attacks.expire_conditions_only(build(idp), idp.keypair)

    error = rejected(idp, xml, RejectCode.expired)
    assert error.detail.startswith("The assertion expired")


def test_rejects_conditions_not_yet_valid_while_the_confirmation_holds(idp: TestIdP) -> None:
    rejected(idp, attacks.conditions_not_yet_valid_only(build(idp), idp.keypair), RejectCode.not_yet_valid)


def test_rejects_subject_confirmation_not_yet_valid_while_the_conditions_hold(idp: TestIdP) -> None:
    rejected(idp, attacks.confirmation_not_yet_valid_only(build(idp), idp.keypair), RejectCode.not_yet_valid)


@pytest.mark.parametrize("mode", ["assertion", "both"])
def test_rejects_assertion_issued_by_another_idp_under_the_right_response_issuer(idp: TestIdP, mode: str) -> None:
    xml = attacks.assertion_issuer_only(build(idp, **SIGNING_MODES[mode]), idp.keypair)

    error = rejected(idp, xml, RejectCode.issuer_mismatch)
    assert error.detail.startswith("The assertion was issued by")


def test_rejects_assertion_without_issuer(idp: TestIdP) -> None:
    rejected(idp, attacks.drop_assertion_issuer(build(idp), idp.keypair), RejectCode.issuer_mismatch)


def test_rejects_signed_in_response_to_differing_from_the_responses(idp: TestIdP) -> None:
    xml = attacks.mismatch_in_response_to(build(idp, **SIGNING_MODES["both"]), idp.keypair)

    rejected(idp, xml, RejectCode.in_response_to_mismatch)


@pytest.mark.parametrize("part", ["response", "assertion"])
def test_rejects_saml_versions_other_than_2_0(idp: TestIdP, part: str) -> None:
    xml = attacks.set_version(build(idp, **SIGNING_MODES["both"]), idp.keypair, on=part)

    error = rejected(idp, xml, RejectCode.malformed)
    assert "version 2.0" in error.detail


def test_a_refusal_carries_what_the_document_claimed_for_the_attempt_log(idp: TestIdP) -> None:
    xml = build(idp, audience="https://other.portico.example/sso/metadata/")

    error = rejected(idp, xml, RejectCode.audience_mismatch)
    assert error.seen is not None
    assert (error.seen.issuer, error.seen.in_response_to, error.seen.xml) == (idp.entity_id, REQUEST_ID, xml)


def test_input_that_cannot_be_parsed_carries_nothing_claimed(idp: TestIdP) -> None:
    assert rejected(idp, attacks.add_doctype_xxe(build(idp)), RejectCode.doctype).seen is None


def test_rejects_response_without_id(idp: TestIdP) -> None:
    root = attacks.parse(build(idp))  # only the assertion is signed, so the Response may be edited
    del root.attrib["ID"]

    assert "has no ID" in rejected(idp, attacks.serialize(root), RejectCode.malformed).detail


def test_rejects_assertion_without_id(idp: TestIdP) -> None:
    root = attacks.parse(build(idp, **SIGNING_MODES["response"]))
    del root.find(f"{{{SAML_NS}}}Assertion").attrib["ID"]
    xml = attacks.resign_with(attacks.serialize(root), idp.keypair, name_id=None)

    assert "assertion has no ID" in rejected(idp, xml, RejectCode.malformed).detail


def test_rejects_assertion_moved_below_the_response(idp: TestIdP) -> None:
    root = attacks.parse(build(idp))
    assertion = root.find(f"{{{SAML_NS}}}Assertion")
    root.remove(assertion)
    etree.SubElement(root, f"{{{attacks.SAMLP_NS}}}Extensions").append(assertion)

    assert "not a direct child" in rejected(idp, attacks.serialize(root), RejectCode.signature_wrapping).detail


def _resigned(idp: TestIdP, edit) -> str:
    return attacks.resign_with(build(idp), idp.keypair, name_id=None, edit=edit)


def test_rejects_assertion_without_a_bearer_confirmation(idp: TestIdP) -> None:
    def holder_of_key(root: etree._Element) -> None:
        root.find(f".//{{{SAML_NS}}}SubjectConfirmation").set("Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")

    assert "bearer" in rejected(idp, _resigned(idp, holder_of_key), RejectCode.missing_subject).detail


def test_rejects_assertion_without_conditions(idp: TestIdP) -> None:
    def drop(root: etree._Element) -> None:
        conditions = root.find(f".//{{{SAML_NS}}}Conditions")
        conditions.getparent().remove(conditions)

    assert "no Conditions" in rejected(idp, _resigned(idp, drop), RejectCode.audience_mismatch).detail


def test_rejects_conditions_without_audience_restriction(idp: TestIdP) -> None:
    def drop(root: etree._Element) -> None:
        for restriction in root.findall(f".//{{{SAML_NS}}}AudienceRestriction"):
            restriction.getparent().remove(restriction)

    assert "AudienceRestriction" in rejected(idp, _resigned(idp, drop), RejectCode.audience_mismatch).detail
