"""Run the test IdP for local development.

    python -m testidp --host 127.0.0.1 --port 8010 --base-url http://localhost:8010 \\
        --state-dir .devdata/testidp [--write-metadata PATH] \\
        [--encrypt-to SP_METADATA_OR_CERT] [--require-signed-requests SP_METADATA_OR_CERT]
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from testidp.app import make_wsgi_app
from testidp.encryption import CONTENT_ALGORITHMS, KEY_TRANSPORTS, sp_encryption_certificate
from testidp.errors import TestIdPError
from testidp.idp import TestIdP
from testidp.keys import load_or_create_keypair
from testidp.server import base_url_for, bind_server


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m testidp", description="SAML test IdP shaped like Entra ID.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--base-url", help="URL browsers and the portal use to reach it (default: from host/port)")
    parser.add_argument("--entity-id", help="default: <base-url>/idp/metadata")
    parser.add_argument("--state-dir", type=Path, default=Path(".devdata/testidp"), help="keeps the signing key")
    parser.add_argument("--write-metadata", type=Path, metavar="PATH", help="write the metadata XML to PATH and exit")
    parser.add_argument("--encrypt-to", type=Path, metavar="PATH",
                        help="token encryption: encrypt assertions to the SP certificate in this SP metadata file "
                             "(or PEM certificate), as Entra does once its admin imports it")
    parser.add_argument("--encryption", default="aes256-cbc", choices=sorted(CONTENT_ALGORITHMS),
                        help="content encryption with --encrypt-to (default aes256-cbc)")
    parser.add_argument("--key-transport", default="rsa-oaep-mgf1p", choices=sorted(KEY_TRANSPORTS),
                        help="key transport with --encrypt-to (default rsa-oaep-mgf1p; rsa-1_5 for refusal demos)")
    parser.add_argument("--require-signed-requests", type=Path, metavar="PATH",
                        help="refuse HTTP-Redirect AuthnRequests not signed by the SP certificate in this SP "
                             "metadata file (or PEM certificate): Entra's 'Require verification certificates'")
    return parser.parse_args(argv)


def _sp_certificate(path: Path) -> str:
    text = path.read_text("utf-8")
    return text if "-----BEGIN CERTIFICATE-----" in text else sp_encryption_certificate(text)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    keypair = load_or_create_keypair(args.state_dir)
    base_url = args.base_url or base_url_for(args.host, args.port)
    idp = TestIdP(base_url, keypair, entity_id=args.entity_id)
    try:
        if args.encrypt_to:
            idp.encrypt_for_sp(certificate_pem=_sp_certificate(args.encrypt_to), content=args.encryption,
                               transport=args.key_transport)
        if args.require_signed_requests:
            idp.sp_verification_certificate = _sp_certificate(args.require_signed_requests)
    except (OSError, TestIdPError) as exc:
        print(f"cannot use the SP certificate: {exc}", file=sys.stderr)
        return 2

    if args.write_metadata:
        args.write_metadata.parent.mkdir(parents=True, exist_ok=True)
        args.write_metadata.write_text(idp.metadata_xml(), encoding="utf-8")
        print(f"wrote metadata for {idp.entity_id} to {args.write_metadata}")
        return 0

    try:
        server = bind_server(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    server.set_app(make_wsgi_app(idp))
    print(f"Test IdP {idp.entity_id}")
    print(f"  metadata:      {idp.metadata_url}")
    print(f"  SSO endpoint:  {idp.sso_url}")
    print(f"  SLO endpoint:  {idp.slo_url} (reads an SP's certificate from the metadata at its entity ID)")
    print(f"  IdP-initiated: {idp.initiate_url}?acs=<ACS URL>&audience=<SP entity ID>")
    print("Ctrl-C stops it.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
