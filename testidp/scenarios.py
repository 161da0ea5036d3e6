"""Named ways the sign-in page can make a response go wrong (or right)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from testidp.errors import InvalidInput
from testidp.keys import generate_keypair

WRONG_AUDIENCE = "urn:portico:testidp:wrong-audience"

# name -> label shown in the sign-in page's <select>
SCENARIOS: dict[str, str] = {
    "ok": "Valid response",
    "expired": "Expired (issued an hour ago)",
    "wrong-key": "Signed by an unknown key",
    "wrong-audience": "Wrong audience",
    "not-yet-valid": "Not yet valid (issued an hour from now)",
    "unsigned": "No signature at all",
}

# name -> label; Entra signs the assertion only unless told otherwise.
SIGNING_MODES: dict[str, str] = {
    "assertion": "Sign the assertion (Entra default)",
    "response": "Sign the response",
    "both": "Sign both",
}


def scenario_overrides(scenario: str, signing: str = "assertion") -> dict[str, Any]:
    """Keyword arguments for `TestIdP.build_response` that produce `scenario`."""
    if scenario not in SCENARIOS:
        raise InvalidInput(f"unknown scenario; choose one of {', '.join(SCENARIOS)}")
    if signing not in SIGNING_MODES:
        raise InvalidInput(f"unknown signing mode; choose one of {', '.join(SIGNING_MODES)}")
    overrides: dict[str, Any] = {
        "sign_assertion": signing in ("assertion", "both"),
        "sign_response": signing in ("response", "both"),
    }
    now = datetime.now(timezone.utc)
    if scenario == "expired":
        overrides["issue_instant"] = now - timedelta(hours=1)
    elif scenario == "not-yet-valid":
        overrides["issue_instant"] = now + timedelta(hours=1)
    elif scenario == "wrong-key":
        overrides["signing_keypair"] = generate_keypair("Unknown signer")
    elif scenario == "wrong-audience":
        overrides["audience"] = WRONG_AUDIENCE
    elif scenario == "unsigned":
        overrides["sign_assertion"] = overrides["sign_response"] = False
    return overrides
