"""An IdP metadata URL that hangs, trickles, returns garbage or a 500 during a refresh (a real HTTP
server this test starts on loopback): the tenant keeps its last good metadata and signs people in
with it, the refresh ends within PORTICO_METADATA_FETCH_TIMEOUT_SECONDS, and a Client Administrator
sees why on the SSO settings page."""
from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sso.models import IdentityProvider
from sso.services import idp_configure_from_url, idp_metadata_refresh
from sso.tasks import refresh_metadata
from tests.conftest import client_for

pytestmark = pytest.mark.faults

# Long enough that a fetch not bounded by the setting would run into it and get another answer
# (the whole slow body, or the end of the hang), short enough that such a bug cannot stall CI.
MISBEHAVE_SECONDS = 20


@contextmanager
def idp_metadata_url(good: bytes) -> Iterator[tuple[str, dict]]:
    """A metadata URL whose behaviour the test switches: good, hang, trickle, garbage, 500."""
    state = {"mode": "good"}
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            mode = state["mode"]
            if mode == "hang":  # accepts the connection, never answers
                stop.wait(MISBEHAVE_SECONDS)
                return
            status, body = {"good": (200, good), "garbage": (200, b"\x00\xffnot metadata at all<<<"),
                            "500": (500, b"Internal Server Error"), "trickle": (200, good)}[mode]
            self.send_response(status)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mode != "trickle":
                self.wfile.write(body)
                return
            # The good document, a byte at a time: every read succeeds, the whole never comes in time.
            deadline = time.monotonic() + MISBEHAVE_SECONDS
            for byte in body:
                if stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.05)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/federationmetadata.xml", state
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("mode", "message"), [
    ("hang", "The metadata URL did not answer within 1 seconds."),
    ("trickle", "The metadata URL did not answer within 1 seconds."),
    ("garbage", "not UTF-8"),
    ("500", "The metadata URL answered HTTP 500."),
])
def test_a_failing_metadata_url_keeps_the_last_good_metadata_and_the_admin_sees_why(
        acme, acme_idp, acme_ca, as_member, sso_sign_in, settings, mode, message):
    settings.PORTICO_METADATA_ALLOW_PRIVATE = True  # the server is on loopback, over http
    settings.PORTICO_METADATA_FETCH_TIMEOUT_SECONDS = 1
    good = acme_idp.metadata_xml()
    with idp_metadata_url(good.encode()) as (url, server):
        idp = idp_configure_from_url(tenant=acme, url=url, actor="test")
        before = (idp.metadata_xml, idp.entity_id, idp.sso_url, idp.version,
                  sorted(idp.certificates.values_list("pem", flat=True)))
        server["mode"] = mode
        assert idp_metadata_refresh(idp=idp) is False
        if mode in ("garbage", "500"):  # the task too: retried, then given up, nothing changed
            assert refresh_metadata.apply(args=[idp.pk]).get() == "failed"

    idp = IdentityProvider.objects.get(pk=idp.pk)
    assert (idp.metadata_xml, idp.entity_id, idp.sso_url, idp.version,
            sorted(idp.certificates.values_list("pem", flat=True))) == before
    assert message in idp.metadata_refresh_error and idp.metadata_refresh_failed_at is not None

    page = as_member(acme_ca).get("/sso/settings/")
    text = html.unescape(page.content.decode())
    assert page.status_code == 200
    assert "Portico could not refresh your metadata URL" in text and message in text
    assert "Sign-in keeps using the last good copy" in text

    assert sso_sign_in(client_for("acme.localhost"), "still.works@acme.example").status_code == 302
