"""Central host: landing page and email-first discovery across tenants."""
from django.urls import path

from sso import discovery_views

urlpatterns = [
    path("", discovery_views.central_login, name="central_home"),
    path("login/", discovery_views.central_login, name="central_login"),
]
