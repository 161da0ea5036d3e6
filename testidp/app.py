"""Plain WSGI front end of the test IdP (no framework, so it runs anywhere tests do).

Routes:
  GET  /idp/metadata      IdP metadata
  GET  /idp/sso           HTTP-Redirect binding AuthnRequest -> sign-in page
  POST /idp/sso           HTTP-POST binding AuthnRequest -> sign-in page
  GET  /idp/initiate      IdP-initiated sign-in page (?acs=&audience=&relay_state=)
  POST /idp/sso/login     sign-in form -> auto-submitting SAMLResponse form to the ACS
  GET  /idp/slo           an SP's signed LogoutRequest -> redirect with a signed LogoutResponse
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from testidp.errors import InvalidInput, TestIdPError
from testidp.idp import MAX_RELAY_STATE_CHARS, TestIdP, check_http_url
from testidp.pages import AUTO_SUBMIT_SCRIPT_HASH, PendingSignIn, auto_post_page, sign_in_page
from testidp.scenarios import scenario_overrides

logger = logging.getLogger(__name__)

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 32
LOGIN_PATH = "/idp/sso/login"

_Response = tuple[str, list[tuple[str, str]], bytes]

_COMMON_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
]
_HTML_CSP = (
    f"default-src 'none'; style-src 'unsafe-inline'; script-src '{AUTO_SUBMIT_SCRIPT_HASH}'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def make_wsgi_app(idp: TestIdP) -> WSGIApplication:
    routes: dict[tuple[str, str], Callable[[TestIdP, WSGIEnvironment], _Response]] = {
        ("GET", "/idp/metadata"): _metadata,
        ("GET", "/idp/sso"): _sso_redirect,
        ("POST", "/idp/sso"): _sso_post,
        ("GET", "/idp/initiate"): _initiate,
        ("POST", LOGIN_PATH): _login,
        ("GET", "/idp/slo"): _slo,
    }
    known_paths = {path for _, path in routes}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        handler = routes.get((method, path))
        try:
            if handler is not None:
                status, headers, body = handler(idp, environ)
            elif path in known_paths:
                allowed = ", ".join(sorted(m for m, p in routes if p == path))
                status, headers, body = _text("405 Method Not Allowed", "Method not allowed")
                headers.append(("Allow", allowed))
            else:
                status, headers, body = _text("404 Not Found", "Not found")
        except TestIdPError as exc:
            status, headers, body = _text("400 Bad Request", f"Bad request: {exc}")
        except Exception:
            # A test IdP that answers with a traceback would hide the SP's behaviour under test.
            logger.exception("test IdP failed on %s %s", method, path)
            status, headers, body = _text("500 Internal Server Error", "Internal error")
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    return app


# --- handlers ---


def _metadata(idp: TestIdP, environ: WSGIEnvironment) -> _Response:
    body = idp.metadata_xml().encode("utf-8")
    return "200 OK", [("Content-Type", "application/samlmetadata+xml"), *_COMMON_HEADERS], body


def _sso_redirect(idp: TestIdP, environ: WSGIEnvironment) -> _Response:
    params = _query(environ)
    idp.verify_redirect_signature(environ.get("QUERY_STRING", ""))
    request = idp.parse_authn_request(_field(params, "SAMLRequest") or "", _field(params, "RelayState"))
    return _sign_in(environ, request.acs_url, request.issuer, request.id, request.relay_state)


def _sso_post(idp: TestIdP, environ: WSGIEnvironment) -> _Response:
    params = _form(environ)
    request = idp.parse_authn_request(
        _field(params, "SAMLRequest") or "", _field(params, "RelayState"), deflated=False
    )
    return _sign_in(environ, request.acs_url, request.issuer, request.id, request.relay_state)


def _initiate(idp: TestIdP, environ: WSGIEnvironment) -> _Response:
    params = _query(environ)
    acs_url = check_http_url(_required(params, "acs"), "acs")
    audience = _required(params, "audience", max_len=1024)
    relay_state = _field(params, "relay_state", max_len=MAX_RELAY_STATE_CHARS)
    return _sign_in(environ, acs_url, audience, None, relay_state)


def _login(idp: TestIdP, environ: WSGIEnvironment) -> _Response:
    params = _form(environ)
    acs_url = check_http_url(_required(params, "acs_url"), "acs_url")
    relay_state = _field(params, "relay_state", max_len=MAX_RELAY_STATE_CHARS)
    kwargs: dict[str, object] = {
        "acs_url": acs_url,
        "audience": _required(params, "audience", max_len=1024),
        "in_response_to": _field(params, "in_response_to", max_len=256),
        "email": _email(_required(params, "email", max_len=254)),
        "first_name": _field(params, "first_name", max_len=100) or "",
        "last_name": _field(params, "last_name", max_len=100) or "",
    }
    kwargs.update(
        scenario_overrides(_field(params, "scenario") or "ok", _field(params, "signing") or "assertion")
    )
    if idp.encrypt_to is not None:
        kwargs["encrypt"] = idp.encrypt_to
    saml_response = idp.build_response_b64(**kwargs)
    page = auto_post_page(acs_url=acs_url, saml_response_b64=saml_response, relay_state=relay_state)
    return _html(page)


def _slo(idp: TestIdP, environ: WSGIEnvironment) -> _Response:
    # The raw query string: the signature covers the octets as the SP encoded them.
    raw = environ.get("QUERY_STRING", "")
    if "SAMLResponse=" in raw:  # the SP's answer to a logout this IdP started
        return _text("200 OK", "Signed out")
    location = idp.answer_logout_request(raw)
    return "302 Found", [("Location", location), *_COMMON_HEADERS], b""


# --- helpers ---


def _sign_in(
    environ: WSGIEnvironment, acs_url: str, audience: str, in_response_to: str | None, relay_state: str | None
) -> _Response:
    pending = PendingSignIn(
        acs_url=acs_url, audience=audience, in_response_to=in_response_to, relay_state=relay_state
    )
    # Relative to where the app is mounted, so it works whatever host name the browser used.
    form_action = environ.get("SCRIPT_NAME", "").rstrip("/") + LOGIN_PATH
    return _html(sign_in_page(pending=pending, form_action=form_action))


def _html(page: str) -> _Response:
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", _HTML_CSP)]
    return "200 OK", headers + _COMMON_HEADERS, page.encode("utf-8")


def _text(status: str, message: str) -> _Response:
    return status, [("Content-Type", "text/plain; charset=utf-8"), *_COMMON_HEADERS], f"{message}\n".encode()


def _parse(qs: str) -> dict[str, list[str]]:
    try:
        return parse_qs(qs, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise InvalidInput("too many parameters") from None


def _query(environ: WSGIEnvironment) -> dict[str, list[str]]:
    # WSGI hands over QUERY_STRING as latin-1-decoded bytes; recover the UTF-8 text.
    raw = environ.get("QUERY_STRING", "")
    try:
        return _parse(raw.encode("latin-1").decode("utf-8"))
    except UnicodeError:
        raise InvalidInput("query string is not UTF-8") from None


def _form(environ: WSGIEnvironment) -> dict[str, list[str]]:
    content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidInput("expected an application/x-www-form-urlencoded form")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidInput("bad Content-Length") from None
    if length < 0 or length > MAX_FORM_BYTES:
        raise InvalidInput("form is too large")
    body = environ["wsgi.input"].read(length)
    try:
        return _parse(body.decode("utf-8"))
    except UnicodeError:
        raise InvalidInput("form is not UTF-8") from None


def _field(params: dict[str, list[str]], name: str, *, max_len: int = 64 * 1024) -> str | None:
    values = params.get(name)
    if not values or values[0] == "":
        return None
    if len(values) > 1:
        raise InvalidInput(f"{name} given more than once")
    if len(values[0]) > max_len:
        raise InvalidInput(f"{name} is too long")
    return values[0]


def _required(params: dict[str, list[str]], name: str, *, max_len: int = 64 * 1024) -> str:
    value = _field(params, name, max_len=max_len)
    if value is None or not value.strip():
        raise InvalidInput(f"{name} is required")
    return value.strip()


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise InvalidInput("email must look like name@domain")
    return value
