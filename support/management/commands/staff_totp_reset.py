from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from provisioning.errors import ProvisioningError
from support.services import staff_totp_reset


class Command(BaseCommand):
    help = ("Remove a support staff member's authenticator (lost phone): they enrol a new one at their next "
            "sign-in to Django admin, and sessions verified with the old one end. Audited.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the staff account's username")

    def handle(self, *args, username: str, **options) -> None:
        try:
            removed = staff_totp_reset(username=username, actor="cli")
        except ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Removed {removed} authenticator(s) of {username}; they enrol a new one at their "
                          "next sign-in.")
