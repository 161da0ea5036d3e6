"""The diagnosis tables (sso.diagnosis) name every refusal code: a gap would silently show a wrong text."""
from __future__ import annotations

import pytest

from sso import diagnosis
from sso.types import RejectCode


@pytest.mark.parametrize("table", list(diagnosis.TABLES))
def test_every_refusal_code_has_an_entry_in_each_diagnosis_table(table: str) -> None:
    entries = diagnosis.TABLES[table]
    assert set(RejectCode) - set(entries) == set(), f"{table} lacks an entry"
    assert set(entries) - set(RejectCode) == set(), f"{table} names a code RejectCode does not have"


def test_each_table_entry_is_a_plain_sentence_or_status() -> None:
    for code in RejectCode:
        title, advice = diagnosis.user_message(code)
        assert title and advice.endswith(".")
        assert diagnosis.admin_headline(code)
        assert 400 <= diagnosis.http_status(code) < 500


def test_only_an_oversized_response_is_answered_413() -> None:
    assert {code for code in RejectCode if diagnosis.http_status(code) != 403} == {RejectCode.too_large}


def test_security_refusals_tell_the_end_user_nothing_an_attacker_could_probe() -> None:
    vague = diagnosis.user_message(RejectCode.signature_invalid)
    for code in (RejectCode.signature_wrapping, RejectCode.certificate_mismatch, RejectCode.comment_injection):
        assert diagnosis.user_message(code) == vague


def test_the_headline_of_a_success_and_of_an_old_unknown_code() -> None:
    assert diagnosis.admin_headline("ok") == "Signed in"
    assert diagnosis.admin_headline("rejected") == "The response is malformed or has been tampered with"
