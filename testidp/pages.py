"""HTML of the test IdP: the sign-in page and the HTTP-POST binding's auto-submit form."""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from html import escape

from testidp.scenarios import SCENARIOS, SIGNING_MODES

AUTO_SUBMIT_SCRIPT = 'document.getElementById("saml-post").submit();'
# The page's CSP allows exactly this inline script and nothing else.
AUTO_SUBMIT_SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(AUTO_SUBMIT_SCRIPT.encode()).digest()).decode()

_STYLE = """
body { font-family: system-ui, sans-serif; background: #f3f4f6; margin: 0; }
main { max-width: 26rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: .5rem;
       box-shadow: 0 1px 3px rgba(0,0,0,.15); }
h1 { font-size: 1.4rem; margin-top: 0; }
.note { color: #555; font-size: .9rem; overflow-wrap: anywhere; }
label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
input, select { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
button { margin-top: 1.5rem; width: 100%; padding: .6rem; font-size: 1rem; background: #0f6cbd; color: #fff;
         border: 0; border-radius: .25rem; cursor: pointer; }
"""


@dataclass(frozen=True)
class PendingSignIn:
    """What the sign-in form carries in hidden fields until the user submits it."""

    acs_url: str
    audience: str
    in_response_to: str | None
    relay_state: str | None


def _e(value: str) -> str:
    return escape(value, quote=True)


def _hidden(name: str, value: str | None) -> str:
    if value is None:
        return ""
    return f'<input type="hidden" name="{_e(name)}" value="{_e(value)}">'


def _options(choices: dict[str, str], selected: str) -> str:
    return "".join(
        f'<option value="{_e(value)}"{" selected" if value == selected else ""}>{_e(label)}</option>'
        for value, label in choices.items()
    )


def sign_in_page(*, pending: PendingSignIn, form_action: str) -> str:
    kind = "SP-initiated" if pending.in_response_to else "IdP-initiated"
    hidden_fields = "".join(
        _hidden(name, value)
        for name, value in (
            ("acs_url", pending.acs_url),
            ("audience", pending.audience),
            ("in_response_to", pending.in_response_to),
            ("relay_state", pending.relay_state),
        )
    )
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test IdP — sign in</title><style>{_STYLE}</style></head>
<body><main>
<h1>Sign in</h1>
<p class="note">{kind} sign-in to <strong>{_e(pending.audience)}</strong>.
This test identity provider signs whatever you enter: for development and tests only.</p>
<form method="post" action="{_e(form_action)}">
{hidden_fields}
<label for="email">Email</label>
<input id="email" name="email" type="email" required autofocus autocomplete="username" maxlength="254">
<label for="first_name">First name</label>
<input id="first_name" name="first_name" value="Test" maxlength="100">
<label for="last_name">Last name</label>
<input id="last_name" name="last_name" value="User" maxlength="100">
<label for="scenario">Scenario</label>
<select id="scenario" name="scenario">{_options(SCENARIOS, "ok")}</select>
<label for="signing">Signature</label>
<select id="signing" name="signing">{_options(SIGNING_MODES, "assertion")}</select>
<button type="submit">Sign in</button>
</form>
</main></body>
</html>
"""


def auto_post_page(*, acs_url: str, saml_response_b64: str, relay_state: str | None) -> str:
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Test IdP — signing in</title></head>
<body>
<form id="saml-post" method="post" action="{_e(acs_url)}">
{_hidden("SAMLResponse", saml_response_b64)}{_hidden("RelayState", relay_state)}
<noscript><p>JavaScript is off: press Continue to finish signing in.</p>
<button type="submit">Continue</button></noscript>
</form>
<script>{AUTO_SUBMIT_SCRIPT}</script>
</body>
</html>
"""
