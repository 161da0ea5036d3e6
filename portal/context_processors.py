from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from tenants.types import signed_in_user


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    # aria-current: "page" on the page itself, "true" on a page inside its section, "" elsewhere.
    current: str


# Main navigation of a tenant host: (label, URL name, URL names of the pages inside its section,
# least access level that may open it; "" for any active member).
_NAV = (
    ("Home", "home", {"property_manage", "property_detail"}, ""),
    ("Manage Account", "manage_account", {"team", "team_member", "team_member_remove", "sso_settings", "sso_attempt",
                                          "sso_test_result", "audit_log"}, "client-administrator"),
)


def _nav_links(request: HttpRequest) -> list[NavLink]:
    """The links a signed-in tenant user may open: none in the Waiting Room or when removed."""
    from provisioning.models import AccessLevel
    from provisioning.selectors import access_level_of

    level = access_level_of(user=signed_in_user(request))
    if not level:
        return []
    match = getattr(request, "resolver_match", None)
    here = match.url_name if match else None
    links = []
    for label, name, section, least in _NAV:
        if least and AccessLevel.rank(level) < AccessLevel.rank(least):
            continue
        current = "page" if here == name else "true" if here in section else ""
        links.append(NavLink(label=label, url=reverse(name), current=current))
    return links


def portal(request: HttpRequest) -> dict:
    tenant = getattr(request, "tenant", None)
    if tenant is not None and tenant.schema_name == "public":
        tenant = None
    user = getattr(request, "user", None)
    signed_in = tenant is not None and user is not None and user.is_authenticated
    return {
        "current_tenant": tenant,
        "brand_colour": (tenant.brand_colour if tenant is not None and tenant.brand_colour else "#0b5cab"),
        # Read only by pages that show the navigation (one query, on first use).
        "nav_links": SimpleLazyObject(lambda: _nav_links(request)) if signed_in else [],
    }
