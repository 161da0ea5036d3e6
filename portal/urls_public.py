"""URLs of the central host: landing, email-first sign-in, support staff's Django admin."""
from django.contrib import admin
from django.urls import include, path

from portal.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("sso.urls_public")),
]

handler400 = "portal.views.error_400"
handler403 = "portal.views.error_403"
handler404 = "portal.views.error_404"
handler500 = "portal.views.error_500"
