"""Run the test IdP on a real socket: in a background thread for tests, or in the foreground."""
from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from testidp.app import make_wsgi_app
from testidp.idp import TestIdP

logger = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # A browser test holds one connection open while the SP calls back for metadata.
    daemon_threads = True


class _ThreadingWSGIServerV6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _LoggingHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        # wsgiref writes every request to stderr; route it through logging instead.
        logger.info("%s %s", self.address_string(), format % args)


def _not_ready(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]


def bind_server(host: str, port: int) -> WSGIServer:
    """Bind and listen now, so the real port (when `port` is 0) is known before the IdP is built."""
    server_class = _ThreadingWSGIServerV6 if ":" in host else _ThreadingWSGIServer
    return make_server(host, port, _not_ready, server_class=server_class, handler_class=_LoggingHandler)


def base_url_for(host: str, port: int) -> str:
    # A wildcard address is where we listen, not where a browser can reach us.
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class RunningIdP:
    """A test IdP serving in a daemon thread; `stop()` (or leaving the `with` block) shuts it down."""

    def __init__(self, idp: TestIdP, server: WSGIServer, thread: threading.Thread, base_url: str) -> None:
        self.idp = idp
        self.base_url = base_url
        self._server = server
        self._thread = thread

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> RunningIdP:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningIdP(base_url={self.base_url!r})"


def serve_in_thread(
    idp_factory_or_idp: TestIdP | Callable[[str], TestIdP],
    host: str = "127.0.0.1",
    port: int = 0,
) -> RunningIdP:
    """Serve a test IdP from a background thread.

    Pass a factory taking the base URL (e.g. `lambda url: TestIdP(url, keypair)`)
    when `port` is 0: the IdP's entity ID and endpoints must name the port the
    OS picks, which is only known once the socket is bound. A ready-made
    TestIdP is served as is, whatever URLs it was built with.
    """
    server = bind_server(host, port)
    try:
        base_url = base_url_for(host, server.server_port)
        if isinstance(idp_factory_or_idp, TestIdP):
            idp = idp_factory_or_idp
        else:
            idp = idp_factory_or_idp(base_url)
        server.set_app(make_wsgi_app(idp))
    except BaseException:
        server.server_close()
        raise
    # A short poll interval keeps stop() fast; the loop is idle otherwise.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="testidp", daemon=True
    )
    thread.start()
    return RunningIdP(idp, server, thread, base_url)
