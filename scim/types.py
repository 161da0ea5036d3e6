"""Typed shapes of the SCIM app."""
from __future__ import annotations

from tenants.types import TenantRequest


class ScimRequest(TenantRequest):
    """A SCIM request past scim.views.scim_endpoint: its bearer token named the actor."""

    scim_actor: str
