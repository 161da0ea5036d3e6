"""Directory sync URLs of a tenant host. `/scim/v2/` is the Tenant URL customers paste into Entra:
never change it. Entra joins the Tenant URL and a resource with a slash, so a doubled or trailing
slash is accepted too."""
from django.urls import path, re_path

from scim import settings_views, views

_ID = r"(?P<%s>[^/]+)"
urlpatterns = [
    re_path(r"^scim/v2/+Users/?$", views.users, name="scim_users"),
    re_path(rf"^scim/v2/+Users/{_ID % 'scim_id'}/?$", views.user, name="scim_user"),
    re_path(r"^scim/v2/+Groups/?$", views.groups, name="scim_groups"),
    re_path(rf"^scim/v2/+Groups/{_ID % 'scim_id'}/?$", views.group, name="scim_group"),
    re_path(r"^scim/v2/+ServiceProviderConfig/?$", views.service_provider_config_view, name="scim_spc"),
    re_path(r"^scim/v2/+Schemas/?$", views.schemas_view, name="scim_schemas"),
    re_path(rf"^scim/v2/+Schemas/{_ID % 'schema_id'}/?$", views.schemas_view, name="scim_schema"),
    re_path(r"^scim/v2/+ResourceTypes/?$", views.resource_types_view, name="scim_resource_types"),
    re_path(rf"^scim/v2/+ResourceTypes/{_ID % 'type_id'}/?$", views.resource_types_view, name="scim_resource_type"),
    re_path(r"^scim/v2/(?P<rest>.*)$", views.unknown, name="scim_unknown"),
    path("sso/settings/scim/tokens/", settings_views.scim_token_new, name="scim_token_new"),
    path("sso/settings/scim/tokens/<int:token_id>/revoke/", settings_views.scim_token_revoke_view,
         name="scim_token_revoke"),
]
