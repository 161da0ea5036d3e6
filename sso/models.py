"""Public-schema SSO models: each tenant's IdP connection, its signing certificates, sign-in attempts.

They live in the public schema because support staff see them across tenants in Django admin; the
ACS of a tenant host reads them through the search path (tenant schema, then public).
"""
from __future__ import annotations

from django.db import models

from tenants.models import Tenant

ENTRA_CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
MS_CLAIMS = "http://schemas.microsoft.com/identity/claims/"


def default_attribute_mapping() -> dict[str, list[str]]:
    """Entra ID's default claims first, then common names other IdPs use; NameID is the email fallback."""
    return {
        "email": [f"{ENTRA_CLAIMS}emailaddress", f"{ENTRA_CLAIMS}name", "email", "mail", "urn:oid:0.9.2342.19200300.100.1.3"],
        "first_name": [f"{ENTRA_CLAIMS}givenname", "givenName", "firstName", "urn:oid:2.5.4.42"],
        "last_name": [f"{ENTRA_CLAIMS}surname", "sn", "lastName", "urn:oid:2.5.4.4"],
        "display_name": [f"{MS_CLAIMS}displayname", "displayName", "name"],
        "object_id": [f"{MS_CLAIMS}objectidentifier", "objectGUID"],
        "groups": ["http://schemas.microsoft.com/ws/2008/06/identity/claims/groups", "groups", "memberOf"],
    }


class IdentityProvider(models.Model):
    """A tenant's SAML IdP connection (one per tenant)."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Federation Metadata XML (upload)"
        URL = "url", "Metadata URL (refreshed automatically)"
        MANUAL = "manual", "SSO URL and certificate"

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="identity_provider")
    display_name = models.CharField(max_length=100, default="Microsoft", help_text='Button label: "Log In with …"')
    entity_id = models.CharField("IdP entity ID (Issuer)", max_length=1024)
    sso_url = models.URLField("SSO URL (HTTP-Redirect)", max_length=2048)
    slo_url = models.URLField("Sign-out URL", max_length=2048, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    metadata_xml = models.TextField(blank=True, help_text="The last good metadata document")
    metadata_url = models.URLField(max_length=2048, blank=True)
    metadata_fetched_at = models.DateTimeField(null=True, blank=True)
    metadata_refresh_error = models.TextField(blank=True)
    metadata_refresh_failed_at = models.DateTimeField(null=True, blank=True)
    allow_idp_initiated = models.BooleanField(
        "Allow IdP-initiated sign-in", default=False,
        help_text="Entra's 'Test this application' and the My Apps tile post unsolicited responses.",
    )
    restrict_email_domains = models.BooleanField(
        "Only the tenant's email domains", default=True,
        help_text="Reject sign-ins whose email is outside this tenant's email domains.",
    )
    attribute_mapping = models.JSONField(default=default_attribute_mapping)
    group_access_levels = models.JSONField(
        default=dict, blank=True, help_text='Groups claim value → access level, e.g. {"<group id>": "technician"}'
    )
    # Bumped on every change: keys the per-process cache of pysaml2 configurations.
    version = models.PositiveIntegerField(default=1)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "identity provider"

    def __str__(self) -> str:
        return f"{self.display_name} for {self.tenant.slug}"


class IdpCertificate(models.Model):
    """A signing certificate trusted for one IdP; several are active while the IdP rotates keys."""

    idp = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="certificates")
    pem = models.TextField()
    fingerprint_sha256 = models.CharField(max_length=95)
    subject = models.CharField(max_length=500, blank=True)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    expiry_warning_sent_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["not_after"]
        constraints = [models.UniqueConstraint(fields=["idp", "fingerprint_sha256"], name="idp_cert_unique")]

    def __str__(self) -> str:
        return f"{self.subject or 'certificate'} (expires {self.not_after:%Y-%m-%d})"


class StagedConnection(models.Model):
    """A tenant's IdP connection that is not live: the *draft* being tested, or the *previous* live
    one kept for Roll back. At most one of each per tenant; the live one is the IdentityProvider row.

    Sign-ins never read these rows except a test sign-in started against the draft (sso.acs), so a
    draft cannot break anyone's sign-in. Next to IdentityProvider in the public schema, like it.
    """

    class Kind(models.TextChoices):
        DRAFT = "draft", "Draft"
        PREVIOUS = "previous", "Previous"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="staged_connections")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    display_name = models.CharField(max_length=100)
    # The label was typed by an admin (manual entry, or a restored connection), not suggested.
    display_name_chosen = models.BooleanField(default=False)
    entity_id = models.CharField(max_length=1024)
    sso_url = models.URLField(max_length=2048)
    slo_url = models.URLField(max_length=2048, blank=True)
    source = models.CharField(max_length=16, choices=IdentityProvider.Source.choices)
    metadata_xml = models.TextField(blank=True)
    metadata_url = models.URLField(max_length=2048, blank=True)
    certificate_pems = models.JSONField(default=list)
    # What the admin was warned about (and confirmed) when saving: [{"code", "text", "confirm"}].
    warnings = models.JSONField(default=list, blank=True)
    # Bumped on every save: a test started against one version does not count for the next.
    version = models.PositiveIntegerField(default=1)
    tested_version = models.PositiveIntegerField(null=True, blank=True)
    tested_at = models.DateTimeField(null=True, blank=True)
    tested_reference = models.CharField(max_length=16, blank=True)
    saved_by = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "kind"], name="staged_connection_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} connection of {self.tenant_id}: {self.entity_id}"

    @property
    def tested(self) -> bool:
        """A test sign-in against exactly this version succeeded."""
        return self.tested_version is not None and self.tested_version == self.version


class SignInAttempt(models.Model):
    """Every SAML sign-in, test or real, with a plain-words diagnosis and a reference code shown to the user."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="sign_in_attempts")
    reference = models.CharField(max_length=16, unique=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, db_index=True)
    code = models.CharField(max_length=48, help_text="ok, or why it was refused")
    message = models.TextField(blank=True)
    email = models.CharField(max_length=254, blank=True)
    is_test = models.BooleanField(default=False)
    idp_initiated = models.BooleanField(default=False)
    host = models.CharField(max_length=253, blank=True)
    issuer = models.CharField(max_length=1024, blank=True)
    in_response_to = models.CharField(max_length=256, blank=True)
    response_xml = models.TextField(blank=True, help_text="The decoded SAML response, for support diagnostics")
    # Refused posts beyond PORTICO_ACS_REFUSED_BODY_BUDGET are logged without their body.
    body_dropped = models.BooleanField(default=False, help_text="The response was not kept: too many refused posts")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # A successful test sign-in only: the claims Portico read, the access level they map to and the
    # identity it would bind (sso.acs), for the test result page. Never read back to sign anyone in.
    test_claims = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.reference} {self.outcome} {self.code}"


class ConsumedAssertion(models.Model):
    """A SAML assertion that signed in once (the durable half of sso.replay): only digests, so the
    table holds no identity, and a unique key, so two workers cannot both consume one assertion."""

    assertion_digest = models.CharField(max_length=64, unique=True, help_text="sha256 of issuer and assertion ID")
    issuer_digest = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)
    consumed_at = models.DateTimeField()

    class Meta:
        verbose_name = "consumed assertion"


class SpKeyPair(models.Model):
    """One of a tenant's own SP key pairs: Portico signs with it (AuthnRequests, logout messages) and
    IdPs encrypt assertions to it. The private key is stored encrypted (sso.sp_keys, Fernet under
    PORTICO_KEY_ENCRYPTION_KEYS); the certificate is self-signed, since IdPs pin it rather than chain it.

    Rotation keeps two keys published at once: the new one signs from `active_from`, the old one still
    decrypts (Entra encrypts to whichever certificate its admin uploaded) until `retire_at`.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sp_key_pairs")
    private_key_encrypted = models.BinaryField()
    certificate_pem = models.TextField()
    fingerprint_sha256 = models.CharField(max_length=95)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    active_from = models.DateTimeField(help_text="Signs from this time on (until a newer key becomes active)")
    retire_at = models.DateTimeField(null=True, blank=True, help_text="Neither published nor used from this time on")
    expiry_warning_sent_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "SP key pair"
        ordering = ["-active_from", "-pk"]
        constraints = [models.UniqueConstraint(fields=["tenant", "fingerprint_sha256"], name="sp_key_unique")]

    def __str__(self) -> str:
        return f"SP key of {self.tenant_id} (expires {self.not_after:%Y-%m-%d})"
