"""Portal pages on every tenant host (included at "" in portal/urls_tenant.py)."""
from django.urls import path

from provisioning import views

urlpatterns = [
    path("", views.home, name="home"),
    path("waiting-room/", views.waiting_room, name="waiting_room"),
    path("waiting-room/ask/", views.waiting_room_ask, name="waiting_room_ask"),
    path("waiting/<int:membership_id>/request/", views.waiting_member_request, name="waiting_member_request"),
    path("properties/<slug:code>/", views.property_detail, name="property_detail"),
    path("properties/<slug:code>/manage/", views.property_manage, name="property_manage"),
    path("account/", views.manage_account, name="manage_account"),
    path("requests/<int:request_id>/withdraw/", views.new_user_request_withdraw_view, name="new_user_request_withdraw"),
    path("team/", views.team, name="team"),
    path("team/<int:membership_id>/", views.team_member, name="team_member"),
    path("team/<int:membership_id>/remove/", views.team_member_remove, name="team_member_remove"),
    path("team/<int:membership_id>/resend/", views.team_member_resend, name="team_member_resend"),
]
