from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django_tenants.utils import tenant_context

from provisioning.errors import ProvisioningError
from provisioning.models import AccessLevel, Property
from provisioning.services import member_add
from tenants.selectors import email_domains_of, tenant_get


def _properties_resolve(names: list[str], *, tenant_slug: str) -> list[Property]:
    """Each of `names` by code or by name (case-insensitive); unknown ones are all reported at once."""
    found, unknown = [], []
    for text in names:
        prop = Property.objects.filter(Q(code__iexact=text.strip()) | Q(name__iexact=text.strip())).first()
        (found.append(prop) if prop else unknown.append(text))
    if unknown:
        known = ", ".join(f"{p.code} ({p.name})" for p in Property.objects.all()) or "none yet"
        raise CommandError(
            f"Unknown propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(repr(u) for u in unknown)} "
            f"in tenant {tenant_slug}. Known properties: {known}."
        )
    return list(dict.fromkeys(found))


class Command(BaseCommand):
    help = (
        "Pre-provision a tenant user: they are signed straight in at their next SSO, without the Waiting Room. "
        "Idempotent: running it again with the same access changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="tenant slug")
        parser.add_argument("--email", required=True)
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument(
            "--access-level", required=True,
            help="by slug or name: " + ", ".join(f"{level.value} ({level.label})" for level in AccessLevel),
        )
        parser.add_argument("--property", action="append", default=[], dest="properties", metavar="CODE_OR_NAME",
                            help="a property this user gets access to; repeat for several")

    def handle(self, *args, slug: str, email: str, first_name: str, last_name: str, access_level: str,
               properties: list[str], **options) -> None:
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}. See manage.py tenant_list.")
        level = AccessLevel.parse(access_level)
        if level is None:
            choices = ", ".join(f"{lvl.value} ({lvl.label})" for lvl in AccessLevel)
            raise CommandError(f"Unknown access level {access_level!r}. Choose one of: {choices}.")
        with tenant_context(tenant):
            props = _properties_resolve(properties, tenant_slug=slug)
            try:
                result = member_add(tenant=tenant, email=email, first_name=first_name, last_name=last_name,
                                    access_level=level, properties=props, actor="cli")
            except ProvisioningError as exc:
                if exc.field == "properties":
                    raise CommandError(f"Give at least one --property for {level.label} access.") from exc
                raise CommandError(exc.message) from exc
        domain = result.membership.user.username.rsplit("@", 1)[-1]
        if domain not in [d.lower() for d in email_domains_of(tenant=tenant)]:
            self.stderr.write(self.style.WARNING(
                f"Note: {domain} is not one of {tenant.slug}'s verified email domains, so discovery won't route this "
                "address to the tenant."))
        where = ", ".join(p.name for p in props) or ("every property" if level in (
            AccessLevel.CLIENT_ADMINISTRATOR, AccessLevel.SUPPORT) else "no property")
        user = result.membership.user.username
        if not result.changed:
            self.stdout.write(f"No change: {user} already has {level.label} access to {where} in tenant {tenant.slug}.")
        elif result.user_created:
            self.stdout.write(self.style.SUCCESS(
                f"Added {user} to tenant {tenant.slug} as {level.label} ({where}); they can sign in with SSO."))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Updated {user} in tenant {tenant.slug}: {level.label} ({where}); they can sign in with SSO."))
