"""Portal pages on every tenant host (included at "" in portal/urls_tenant.py)."""
from django.urls import path

from provisioning import views

urlpatterns = [
    path("", views.home, name="home"),
    path("waiting-room/", views.waiting_room, name="waiting_room"),
    path("properties/<slug:code>/manage/", views.property_manage, name="property_manage"),
    path("team/", views.team, name="team"),
    path("team/<int:membership_id>/", views.team_member, name="team_member"),
    path("team/<int:membership_id>/remove/", views.team_member_remove, name="team_member_remove"),
]
