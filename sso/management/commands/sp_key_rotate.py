from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sso.sp_keys import SpKeyUnreadable, sp_key_pair_rotate, sp_keys_reencrypt
from tenants.selectors import tenant_get


class Command(BaseCommand):
    help = ("Rotate a tenant's SP key pair (the new certificate is published now and signs after the overlap), "
            "or with --reencrypt re-encrypt every stored SP private key under the first PORTICO_KEY_ENCRYPTION_KEYS key.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", nargs="?", help="The tenant's slug")
        parser.add_argument("--overlap-days", type=int, default=None,
                            help="Days before the new key signs (default PORTICO_SP_KEY_ROTATION_OVERLAP_DAYS); "
                                 "0 switches at once and retires the old key at once")
        parser.add_argument("--reencrypt", action="store_true", help="Re-encrypt all stored private keys instead")

    def handle(self, *args: object, slug: str | None, overlap_days: int | None, reencrypt: bool,
               **options: object) -> None:
        if reencrypt:
            if slug:
                raise CommandError("--reencrypt applies to every tenant: give no slug.")
            try:
                count = sp_keys_reencrypt()
            except SpKeyUnreadable as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"Re-encrypted {count} SP private key(s).")
            return
        if not slug:
            raise CommandError("Give a tenant slug (or --reencrypt).")
        if overlap_days is not None and overlap_days < 0:
            raise CommandError("--overlap-days cannot be negative.")
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}. See `manage.py tenant_list`.")
        overlap = None if overlap_days is None else timedelta(days=overlap_days)
        key = sp_key_pair_rotate(tenant=tenant, actor="cli", overlap=overlap)
        self.stdout.write(
            f"New SP certificate for {tenant.slug}: SHA-256 {key.fingerprint_sha256}, expires {key.not_after:%Y-%m-%d}.\n"
            f"It is in the SP metadata now and signs from {key.active_from:%Y-%m-%d %H:%M} UTC; "
            "upload it to the IdP before then (Entra: token encryption and verification certificates)."
        )
