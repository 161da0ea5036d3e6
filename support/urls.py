"""The set-up link page on every tenant host (included at "" in portal/urls_tenant.py)."""
from django.urls import path

from support import views

urlpatterns = [
    path("setup/", views.setup_link_continue, name="setup_link_continue"),
    path("setup/<str:token>/", views.setup_link, name="setup_link"),
]
