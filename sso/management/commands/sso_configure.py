from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from sso.errors import SsoConfigError
from sso.metadata import DEFAULT_MAX_BYTES
from sso.models import IdentityProvider
from sso.selectors import certificate_statuses
from sso.services import (
    idp_configure_from_metadata,
    idp_configure_from_url,
    idp_configure_manual,
    idp_draft_activate,
    idp_draft_from_metadata,
    idp_draft_from_url,
    idp_draft_manual,
    idp_options_update,
)
from sso.sp import sp_endpoints
from tenants.models import Tenant
from tenants.selectors import tenant_get

# A certificate is a few KB; a larger "certificate file" is something else.
MAX_CERTIFICATE_FILE_BYTES = 64 * 1024


class Command(BaseCommand):
    help = (
        "Connect a tenant to its SAML identity provider: from a Federation Metadata XML file, from a metadata URL "
        "(refreshed daily), or from the SSO URL, IdP entity ID and signing certificate. Prints the values to "
        "paste into Entra. Bad input changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The tenant's slug")
        source = parser.add_argument_group("identity provider (choose one way)")
        source.add_argument("--metadata-file", metavar="PATH", help="Federation Metadata XML downloaded from the IdP")
        source.add_argument("--metadata-url", metavar="URL", help="App Federation Metadata Url (https)")
        source.add_argument("--sso-url", metavar="URL", help="Login URL (SSO target URL), with the two options below")
        source.add_argument("--idp-entity-id", metavar="ID", help="Microsoft Entra Identifier (IdP entity ID)")
        source.add_argument("--certificate-file", metavar="PATH", action="append", default=[], dest="certificate_files",
                            help="Certificate (Base64) or (Raw); repeat while the IdP rotates to a new one")
        initiated = parser.add_mutually_exclusive_group()
        initiated.add_argument("--allow-idp-initiated", action="store_const", const=True, dest="allow_idp_initiated",
                               help="Accept unsolicited responses (Entra's 'Test this application', My Apps)")
        initiated.add_argument("--disallow-idp-initiated", action="store_const", const=False,
                               dest="allow_idp_initiated", help="Refuse unsolicited responses (the default)")
        parser.add_argument("--email-domain", metavar="DOMAIN", action="append", default=[], dest="email_domains",
                            help="An email domain that signs in through this IdP, marked verified (an operator vouches "
                                 "for it); repeat for several")
        parser.add_argument("--display-name", metavar="NAME", help='Button label: "Log In with NAME"')
        staged = parser.add_mutually_exclusive_group()
        staged.add_argument("--draft", action="store_true",
                            help="Save as the tenant's draft connection instead of applying it: sign-ins keep using "
                                 "the live one until a Client Administrator tests and activates it (warnings are "
                                 "printed, not asked about)")
        staged.add_argument("--activate-draft", action="store_true",
                            help="Make the tenant's draft connection live now, tested or not (no source option); "
                                 "the live one is kept for Roll back")

    def handle(self, *args: object, slug: str, metadata_file: str | None, metadata_url: str | None,
               sso_url: str | None, idp_entity_id: str | None, certificate_files: list[str],
               allow_idp_initiated: bool | None, email_domains: list[str], display_name: str | None,
               draft: bool = False, activate_draft: bool = False, **options: object) -> None:
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}. See `manage.py tenant_list`.")
        if activate_draft:
            if metadata_file or metadata_url or sso_url or idp_entity_id or certificate_files or email_domains \
                    or display_name or allow_idp_initiated is not None:
                raise CommandError("--activate-draft takes no other option: it makes the saved draft live as it is.")
            try:
                idp = idp_draft_activate(tenant=tenant, actor="cli", untested=True)
            except SsoConfigError as exc:
                raise CommandError(f"{exc} Nothing was changed.") from exc
            self.stdout.write(self.style.SUCCESS(f"Activated the draft connection of {tenant.slug} ({tenant.name})"))
            self.stdout.write(_summary(tenant, idp))
            return
        chosen = [name for name, value in (("--metadata-file", metadata_file), ("--metadata-url", metadata_url),
                                           ("--sso-url", sso_url)) if value]
        if len(chosen) != 1:
            got = f"; got {', '.join(chosen)}" if chosen else ""
            raise CommandError("Give exactly one of --metadata-file, --metadata-url or --sso-url "
                               f"(with --idp-entity-id and --certificate-file){got}.")
        if not sso_url and (idp_entity_id or certificate_files):
            raise CommandError("--idp-entity-id and --certificate-file go with --sso-url only.")
        if sso_url and (not idp_entity_id or not certificate_files):
            raise CommandError("--sso-url needs --idp-entity-id and at least one --certificate-file.")
        if display_name is not None:
            display_name = " ".join(display_name.split())
            if not display_name or len(display_name) > 100:
                raise CommandError("--display-name must be 1 to 100 characters.")
        if draft:
            if email_domains or allow_idp_initiated is not None:
                raise CommandError("--email-domain and --allow-idp-initiated change the live configuration: "
                                   "give them without --draft.")
            self._draft(tenant, metadata_file=metadata_file, metadata_url=metadata_url, sso_url=sso_url,
                        idp_entity_id=idp_entity_id, certificate_files=certificate_files, display_name=display_name)
            return

        try:
            with transaction.atomic():
                if metadata_file:
                    document = _read(metadata_file, limit=DEFAULT_MAX_BYTES, what="metadata file")
                    idp = idp_configure_from_metadata(tenant=tenant, document=document, actor="cli",
                                                      allow_idp_initiated=allow_idp_initiated,
                                                      email_domains=email_domains,
                                                      email_domains_verified=True)
                elif metadata_url:
                    idp = idp_configure_from_url(tenant=tenant, url=metadata_url.strip(), actor="cli",
                                                 allow_idp_initiated=allow_idp_initiated, email_domains=email_domains,
                                                 email_domains_verified=True)
                else:
                    certificates = [_read(path, limit=MAX_CERTIFICATE_FILE_BYTES, what="certificate file")
                                    for path in certificate_files]
                    idp = idp_configure_manual(tenant=tenant, sso_url=sso_url or "", entity_id=idp_entity_id or "",
                                               certificates=certificates, actor="cli", display_name=display_name,
                                               allow_idp_initiated=allow_idp_initiated, email_domains=email_domains,
                                               email_domains_verified=True)
                if display_name and idp.display_name != display_name:
                    idp = idp_options_update(idp=idp, actor="cli", display_name=display_name)
        except SsoConfigError as exc:
            where = {"metadata": "metadata", "metadata_url": "--metadata-url", "sso_url": "--sso-url",
                     "entity_id": "--idp-entity-id", "certificate": "certificate", "email_domains": "--email-domain"}
            label = where.get(exc.field or "", "")
            raise CommandError(f"{label + ': ' if label else ''}{exc} Nothing was changed.") from exc
        self.stdout.write(self.style.SUCCESS(f"Configured single sign-on for {tenant.slug} ({tenant.name})"))
        self.stdout.write(_summary(tenant, idp))


    def _draft(self, tenant: Tenant, *, metadata_file: str | None, metadata_url: str | None, sso_url: str | None,
               idp_entity_id: str | None, certificate_files: list[str], display_name: str | None) -> None:
        try:
            if metadata_file:
                document = _read(metadata_file, limit=DEFAULT_MAX_BYTES, what="metadata file")
                staged = idp_draft_from_metadata(tenant=tenant, document=document, actor="cli", confirm=True)
            elif metadata_url:
                staged = idp_draft_from_url(tenant=tenant, url=metadata_url.strip(), actor="cli", confirm=True)
            else:
                certificates = [_read(path, limit=MAX_CERTIFICATE_FILE_BYTES, what="certificate file")
                                for path in certificate_files]
                staged = idp_draft_manual(tenant=tenant, sso_url=sso_url or "", entity_id=idp_entity_id or "",
                                          certificates=certificates,
                                          actor="cli", display_name=display_name, confirm=True)
        except SsoConfigError as exc:
            raise CommandError(f"{exc} Nothing was changed.") from exc
        self.stdout.write(self.style.SUCCESS(
            f"Saved a draft connection for {tenant.slug} ({tenant.name}); the live connection is unchanged"))
        self.stdout.write(f"  identity provider: {staged.entity_id}\n  login URL:         {staged.sso_url}\n"
                          f"  draft version:     {staged.version}")
        for warning in staged.warnings:
            self.stdout.write(self.style.WARNING(f"  warning: {warning['text']}"))
        self.stdout.write("Test it from the SSO settings page (Test sign-in on the draft), then Activate; "
                          f"or `sso_configure {tenant.slug} --activate-draft`.")


def _read(path: str, *, limit: int, what: str) -> bytes:
    file = Path(path)
    try:
        if file.stat().st_size > limit:
            raise CommandError(f"{path}: the {what} is larger than {limit // 1024} KB, which it cannot be. "
                               "Nothing was changed.")
        return file.read_bytes()
    except OSError as exc:
        raise CommandError(f"{path}: cannot read the {what} ({exc.strerror or exc}). Nothing was changed.") from exc


def _summary(tenant: Tenant, idp: IdentityProvider) -> str:
    domains = ", ".join(row.domain + ("" if row.is_verified else " (pending verification)")
                        for row in tenant.email_domains.order_by("domain"))
    lines = [
        f"  identity provider: {idp.entity_id}",
        f"  button:            Log In with {idp.display_name}",
        f"  source:            {idp.get_source_display()}" + (f" — {idp.metadata_url}" if idp.metadata_url else ""),
        f"  login URL:         {idp.sso_url}",
        f"  IdP-initiated:     {'allowed' if idp.allow_idp_initiated else 'refused'}",
        f"  email domains:     {domains or 'none (nobody can find the sign-in button yet)'}",
        "  signing certificates:",
    ]
    for status in certificate_statuses(idp=idp):
        cert = status.certificate
        lines.append(f"    - {cert.subject or '(no subject)'}; valid until {cert.not_after:%Y-%m-%d} "
                     f"({status.label.lower()})")
        lines.append(f"      Thumbprint (SHA-1, as in Entra) {status.sha1_thumbprint}")
        lines.append(f"      SHA-256 {cert.fingerprint_sha256}")
    lines.append("")
    lines.append("Paste into Entra (Enterprise applications → your app → Single sign-on → Basic SAML Configuration):")
    for host in tenant.domains.order_by("-is_primary", "domain").values_list("domain", flat=True):
        sp = sp_endpoints(host=host)
        lines += [
            f"  {host}",
            f"    Identifier (Entity ID): {sp.entity_id}",
            f"    Reply URL (ACS):        {sp.acs_url}",
            f"    Sign on URL:            {sp.sign_on_url}",
            f"    SP metadata XML:        {sp.metadata_url}",
        ]
    return "\n".join(lines)
