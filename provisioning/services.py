"""Provisioning operations: properties, users, access."""
from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from provisioning.errors import ProvisioningError
from provisioning.models import Property
from tenants.selectors import tenant_current
from tenants.services import audit_record
from tenants.types import Actor


def property_create(*, name: str, code: str | None = None, actor: Actor = "cli") -> Property:
    """Create a property (site) in the current tenant's schema."""
    name = (name or "").strip()
    if not name:
        raise ProvisioningError("A property needs a name.")
    code = slugify(code or name)[:64]
    if not code:
        raise ProvisioningError(f"Cannot derive a property code from {name!r}; pass --code.")
    if Property.objects.filter(code=code).exists():
        raise ProvisioningError(f"A property with code {code!r} already exists.")
    with transaction.atomic():
        prop = Property.objects.create(name=name, code=code)
        audit_record(actor=actor, action="property.create", tenant=tenant_current(), target=code, data={"name": name})
    return prop

