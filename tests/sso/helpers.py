"""Helpers shared by the SSO tests: the real IdP documents, a metadata URL to fetch, what configuring changes."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sso.models import IdentityProvider, IdpCertificate
from sso.testidp.keys import generate_keypair
from tenants.models import EmailDomain, Tenant

REPO = Path(__file__).resolve().parents[2]
# Real Entra and ADFS metadata documents, kept beside the repository.
FIXTURES = REPO / "tests" / "fixtures"  # real IdP metadata documents, kept in the repository


def configuration_state(tenant: Tenant) -> tuple:
    """Everything a refused configuration must leave untouched: the IdP, its certificates, all email domains."""
    idp = list(IdentityProvider.objects.filter(tenant=tenant).values())
    certificates = sorted(IdpCertificate.objects.filter(idp__tenant=tenant).values_list("fingerprint_sha256", "pem"))
    domains = sorted(EmailDomain.objects.values_list("domain", "tenant_id"))
    return idp, certificates, domains


def certificate_text(case: str) -> str:
    """The text a parametrized bad-certificate case stands for.

    "PRIVATE_KEY" is a private key in PEM, "EXPIRED" a certificate that expired two days ago;
    any other case is the text itself.
    """
    if case == "PRIVATE_KEY":
        return generate_keypair().key_pem
    if case == "EXPIRED":
        now = datetime.now(UTC)
        return generate_keypair(valid_from=now - timedelta(days=400), valid_until=now - timedelta(days=2)).cert_pem
    return case


@contextmanager
def metadata_server(routes: dict[str, tuple[int, bytes]], *, hits: list[str] | None = None) -> Iterator[str]:
    """A real HTTP server on loopback; yields its base URL.

    `routes` maps a path to (status, body) and may change while it runs; every path requested
    is appended to `hits`, when given.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            if hits is not None:
                hits.append(self.path)
            status, body = routes.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
