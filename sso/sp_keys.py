"""Each tenant's own SP key pairs: generated on first need, stored encrypted, rotated with an overlap.

One key pair per tenant (never shared): a signature Portico makes for tenant A can never pass for
tenant B at an IdP that pins A's certificate, and one tenant's rotation touches no other tenant.

At rest the private key is a Fernet token (AES-128-CBC + HMAC-SHA256) under PORTICO_KEY_ENCRYPTION_KEYS;
several keys may be listed, the first encrypts and any decrypts, so that key can be rotated too
(`sp_keys_reencrypt`). Without the setting the key is derived from SECRET_KEY (HKDF), so changing
SECRET_KEY then makes the stored keys unreadable: production sets the variable (portal.checks warns).

Life of a key pair: `active_from` (it signs from then on, until a newer one is active) and `retire_at`
(no longer published nor used to decrypt). Rotation publishes the new certificate at once, signs with
it after the overlap, and keeps the old one decrypting for another overlap after that, so the
customer's admin has the whole window to upload the new certificate to the IdP.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from sso.metadata import certificate_parse
from sso.models import SpKeyPair
from tenants.models import Tenant
from tenants.services import audit_record
from tenants.types import Actor

RSA_KEY_BITS = 2048  # what Entra accepts for token-encryption and verification certificates


class SpKeyUnreadable(RuntimeError):
    """A stored private key cannot be decrypted with any of PORTICO_KEY_ENCRYPTION_KEYS."""


@dataclass(frozen=True)
class SpKeyMaterial:
    """A usable key pair: the private key in PEM (unencrypted, in memory only) and its certificate."""

    pk: int
    private_key_pem: bytes
    certificate_pem: str
    fingerprint_sha256: str
    not_after: datetime


def _fernet() -> MultiFernet:
    configured = [key.strip() for key in settings.PORTICO_KEY_ENCRYPTION_KEYS if key.strip()]
    if not configured:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portico sp key pairs").derive(
            settings.SECRET_KEY.encode("utf-8"))
        configured = [base64.urlsafe_b64encode(derived).decode("ascii")]
    return MultiFernet([Fernet(key.encode("ascii")) for key in configured])


def private_key_encrypt(pem: bytes) -> bytes:
    return _fernet().encrypt(pem)


def private_key_decrypt(token: bytes) -> bytes:
    try:
        return _fernet().decrypt(bytes(token))
    except InvalidToken:
        raise SpKeyUnreadable(
            "A stored SP private key cannot be decrypted: PORTICO_KEY_ENCRYPTION_KEYS (or SECRET_KEY, when that "
            "is unset) no longer holds the key it was encrypted with."
        ) from None


def _self_signed(*, tenant: Tenant, now: datetime) -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, f"Portico SP {tenant.slug}"[:64]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, (tenant.name or tenant.slug)[:64]),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=settings.PORTICO_SP_CERT_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_pair_new(*, tenant: Tenant, active_from: datetime, now: datetime) -> SpKeyPair:
    private_pem, certificate_pem = _self_signed(tenant=tenant, now=now)
    info = certificate_parse(certificate_pem)
    return SpKeyPair.objects.create(
        tenant=tenant, private_key_encrypted=private_key_encrypt(private_pem), certificate_pem=certificate_pem,
        fingerprint_sha256=info.sha256_fingerprint, not_before=info.not_before, not_after=info.not_after,
        active_from=active_from,
    )


def sp_keys_live(*, tenant: Tenant, now: datetime | None = None) -> QuerySet[SpKeyPair]:
    """Key pairs published in SP metadata and tried for decryption: every one not yet retired (a key
    that will sign after a rotation's overlap is published before it signs). Newest first."""
    now = now or timezone.now()
    return SpKeyPair.objects.filter(tenant=tenant).filter(Q(retire_at__isnull=True) | Q(retire_at__gt=now))


def _material(key: SpKeyPair) -> SpKeyMaterial:
    return SpKeyMaterial(pk=key.pk, private_key_pem=private_key_decrypt(bytes(key.private_key_encrypted)),
                         certificate_pem=key.certificate_pem, fingerprint_sha256=key.fingerprint_sha256,
                         not_after=key.not_after)


def sp_key_pair_ensure(*, tenant: Tenant, actor: Actor = "system") -> SpKeyPair:
    """The tenant's signing key pair, generated (and audited) the first time a tenant needs one."""
    now = timezone.now()
    current = sp_keys_live(tenant=tenant, now=now).filter(active_from__lte=now).first()
    if current is not None:
        return current
    try:
        with transaction.atomic():
            # Serialise first generations of one tenant: two workers must not both create a key.
            Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
            current = sp_keys_live(tenant=tenant, now=now).filter(active_from__lte=now).first()
            if current is not None:
                return current
            key = _key_pair_new(tenant=tenant, active_from=now, now=now)
            audit_record(actor=actor, action="sso.sp_key_create", tenant=tenant, target=key.fingerprint_sha256,
                         data={"not_after": key.not_after.isoformat()})
            return key
    except IntegrityError:  # pragma: no cover (the row lock above makes this a lost race, not an error)
        return sp_keys_live(tenant=tenant, now=now).filter(active_from__lte=now).get()


def sp_signing_key(*, tenant: Tenant) -> SpKeyMaterial:
    """The key Portico signs with for this tenant (AuthnRequests, logout messages)."""
    return _material(sp_key_pair_ensure(tenant=tenant))


def sp_decryption_keys(*, tenant: Tenant) -> list[SpKeyMaterial]:
    """Every private key an IdP may have encrypted to: the live ones, newest first."""
    sp_key_pair_ensure(tenant=tenant)
    return [_material(key) for key in sp_keys_live(tenant=tenant)]


def sp_published_certificates(*, tenant: Tenant) -> list[str]:
    """Certificates SP metadata lists for signing and encryption, newest first."""
    sp_key_pair_ensure(tenant=tenant)
    return list(sp_keys_live(tenant=tenant).values_list("certificate_pem", flat=True))


def sp_key_pair_rotate(*, tenant: Tenant, actor: Actor, overlap: timedelta | None = None) -> SpKeyPair:
    """Start a rotation: the new key is published now and signs after `overlap`; the keys it replaces
    retire one overlap after that. With a zero overlap the new key signs at once and the old ones stop
    decrypting at once (for a compromised key)."""
    if overlap is None:
        overlap = timedelta(days=settings.PORTICO_SP_KEY_ROTATION_OVERLAP_DAYS)
    now = timezone.now()
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        previous = list(sp_keys_live(tenant=tenant, now=now))
        key = _key_pair_new(tenant=tenant, active_from=now + overlap, now=now)
        retire_at = now + 2 * overlap
        for old in previous:
            if old.retire_at is None or old.retire_at > retire_at:
                old.retire_at = retire_at
                old.save(update_fields=["retire_at"])
        audit_record(actor=actor, action="sso.sp_key_rotate", tenant=tenant, target=key.fingerprint_sha256,
                     data={"active_from": key.active_from.isoformat(), "retire_previous_at": retire_at.isoformat(),
                           "previous": [old.fingerprint_sha256 for old in previous]})
    return key


def sp_keys_reencrypt() -> int:
    """Re-encrypt every stored private key under the first of PORTICO_KEY_ENCRYPTION_KEYS (after adding a
    new key in front of the list); returns how many rows changed."""
    fernet = _fernet()
    changed = 0
    with transaction.atomic():
        for key in SpKeyPair.objects.select_for_update().only("pk", "private_key_encrypted"):
            token = bytes(key.private_key_encrypted)
            try:
                rotated = fernet.rotate(token)
            except InvalidToken:
                raise SpKeyUnreadable(f"SP key pair {key.pk} cannot be decrypted with PORTICO_KEY_ENCRYPTION_KEYS.") from None
            key.private_key_encrypted = rotated
            key.save(update_fields=["private_key_encrypted"])
            changed += 1
    return changed
