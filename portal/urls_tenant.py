"""URLs of a tenant host (acme.<base domain>): sign-in, SSO, the portal itself."""
from django.urls import include, path

from portal.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", include("sso.urls")),
    path("", include("provisioning.urls")),
    path("", include("scim.urls")),
]

handler400 = "portal.views.error_400"
handler403 = "portal.views.error_403"
handler404 = "portal.views.error_404"
handler500 = "portal.views.error_500"
