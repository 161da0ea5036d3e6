"""Every audit action code the code base writes has words for people."""
from __future__ import annotations

import re
from pathlib import Path

from tenants.audit import AUDIT_ACTION_GROUPS, AUDIT_ACTION_PHRASES, audit_action_phrase

ROOT = Path(__file__).resolve().parents[2]
APPS = ("tenants", "sso", "provisioning", "portal", "support", "outbox", "testidp")


def _codes_written() -> set[str]:
    codes: set[str] = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py") if (ROOT / app).is_dir() else ():
            codes |= set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', path.read_text()))
    return codes


def test_every_action_code_written_has_a_phrase():
    codes = _codes_written()
    assert "member.add" in codes and "new_user_request.approve" in codes  # the scan finds them
    assert codes - AUDIT_ACTION_PHRASES.keys() == set()


def test_every_phrase_belongs_to_a_group_of_the_audit_log_filter():
    for code in AUDIT_ACTION_PHRASES:
        assert any(code.startswith(prefixes) for prefixes in AUDIT_ACTION_GROUPS.values()) or \
            code.startswith(("outbound_email.", "staff.")), code  # no tenant: not in a tenant's log


def test_an_unknown_code_from_an_old_row_is_shown_as_it_is():
    assert audit_action_phrase("member.add") == "Team member added"
    assert audit_action_phrase("gone.action") == "gone.action"
