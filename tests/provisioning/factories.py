"""Factories for tenant users and New User requests, and a membership look-up (each enters the tenant's schema)."""
from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership, Property

_seq = itertools.count(1)


def unique_email(prefix: str = "user", domain: str = "acme.example") -> str:
    """Unique across test runs too, for tests whose rows are committed."""
    return f"{prefix}-{next(_seq)}-{uuid.uuid4().hex[:8]}@{domain}"


def member_create(
    *,
    tenant: str = "acme",
    email: str | None = None,
    access_level: str = AccessLevel.PROPERTY_MANAGER,
    properties: Sequence[str] = ("harbour-view",),
    state: str = Membership.State.ACTIVE,
    first_name: str = "Pat",
    last_name: str = "Member",
    origin: str = Membership.Origin.PRE_PROVISIONED,
):
    """A tenant user with a membership; returns the user (membership at user.membership)."""
    domain = "acme.example" if tenant == "acme" else f"{tenant}.example"
    email = (email or unique_email(access_level.split("-")[0], domain)).lower()
    with schema_context(tenant):
        user = get_user_model().objects.create_user(username=email, email=email, first_name=first_name,
                                                    last_name=last_name)
        user.set_unusable_password()
        user.save()
        membership = Membership.objects.create(user=user, state=state, access_level=access_level, origin=origin)
        membership.properties.set(Property.objects.filter(code__in=list(properties)))
    return user


def membership_find(email: str, tenant: str = "acme") -> Membership | None:
    """The membership of the user with this username, with `property_codes` (a set) read while in the schema."""
    with schema_context(tenant):
        m = Membership.objects.select_related("user").filter(user__username=email).first()
        if m is not None:
            m.property_codes = set(m.properties.values_list("code", flat=True))
        return m


def property_ids(tenant: str, *codes: str) -> list[int]:
    with schema_context(tenant):
        return list(Property.objects.filter(code__in=codes).order_by("code").values_list("pk", flat=True))


def new_user_request_create(
    *,
    tenant: str = "acme",
    email: str | None = None,
    access_level: str = AccessLevel.TECHNICIAN,
    properties: Sequence[str] = ("harbour-view",),
    requested_by_email: str = "pete.manager@acme.example",
    first_name: str = "Nia",
    last_name: str = "Newcomer",
    requested_by_level: str | None = None,
):
    """A pending New User request row, as the Manage page would have written it, from a requester
    who exists in the tenant (created if missing) holding `requested_by_level` (default: enough
    for what is asked, at least Property Manager) and the properties asked for."""
    from support.models import NewUserRequest
    from tenants.models import Tenant

    row_tenant = Tenant.objects.get(slug=tenant)
    domain = "acme.example" if tenant == "acme" else f"{tenant}.example"
    level = requested_by_level or max(AccessLevel.PROPERTY_MANAGER, access_level, key=AccessLevel.rank)
    with schema_context(tenant):
        found = list(Property.objects.filter(code__in=list(properties)))
        props = [{"id": p.pk, "name": p.name, "code": p.code} for p in found]
        requester = get_user_model().objects.filter(username=requested_by_email).first()
        if requester is None:
            requester = get_user_model().objects.create_user(username=requested_by_email, email=requested_by_email,
                                                             first_name="Pete", last_name="Manager")
            Membership.objects.create(user=requester, state=Membership.State.ACTIVE, access_level=level)
        if requested_by_level is not None or AccessLevel.rank(requester.membership.access_level) < AccessLevel.rank(level):
            Membership.objects.filter(user=requester).update(access_level=level)
        requester.membership.properties.add(*found)
    return NewUserRequest.objects.create(
        tenant=row_tenant, email=(email or unique_email("nia", domain)).lower(), first_name=first_name,
        last_name=last_name, access_level=access_level, properties=props, requested_by_email=requested_by_email,
        requested_by_name="Pete Manager", requested_from_property="Harbour View", requested_by_user_id=requester.pk,
    )
