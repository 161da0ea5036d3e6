"""Signing key and self-signed certificate for the test IdP."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# Entra issues its SAML signing certificates for three years.
DEFAULT_VALIDITY = timedelta(days=3 * 365)
KEY_FILENAME = "idp-key.pem"
CERT_FILENAME = "idp-cert.pem"


@dataclass(frozen=True)
class KeyPair:
    key_pem: str
    cert_pem: str

    @property
    def cert_base64(self) -> str:
        """The certificate body as it appears in ds:X509Certificate and metadata."""
        lines = self.cert_pem.strip().splitlines()
        return "".join(line for line in lines if not line.startswith("-----"))


def generate_keypair(
    common_name: str = "Portico Test IdP",
    *,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> KeyPair:
    """A fresh RSA-2048 key with a self-signed SHA-256 certificate."""
    now = datetime.now(timezone.utc)
    # Backdated a little so a verifier with a slightly slow clock still accepts it.
    not_before = valid_from or now - timedelta(days=1)
    not_after = valid_until or not_before + DEFAULT_VALIDITY
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return KeyPair(key_pem=key_pem, cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))


def load_or_create_keypair(directory: Path, common_name: str = "Portico Test IdP") -> KeyPair:
    """Load the keypair kept in `directory`, creating it on first use.

    A dev IdP must keep its certificate across restarts, otherwise every
    restart would invalidate the metadata already fed to the portal.
    """
    directory = Path(directory)
    key_path, cert_path = directory / KEY_FILENAME, directory / CERT_FILENAME
    if key_path.exists() and cert_path.exists():
        keypair = KeyPair(key_pem=key_path.read_text("ascii"), cert_pem=cert_path.read_text("ascii"))
        _check_matching(keypair, key_path)
        return keypair

    directory.mkdir(parents=True, exist_ok=True)
    keypair = generate_keypair(common_name)
    _write_atomic(key_path, keypair.key_pem, mode=0o600)
    _write_atomic(cert_path, keypair.cert_pem, mode=0o644)
    return keypair


def _check_matching(keypair: KeyPair, key_path: Path) -> None:
    key = serialization.load_pem_private_key(keypair.key_pem.encode("ascii"), password=None)
    cert = x509.load_pem_x509_certificate(keypair.cert_pem.encode("ascii"))
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise ValueError(f"{key_path} does not match the certificate next to it; delete both to start over")


def _write_atomic(path: Path, text: str, *, mode: int) -> None:
    # Never leave a half-written key behind if the process dies mid-write.
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
    os.replace(tmp, path)
