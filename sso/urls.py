"""SSO URLs on every tenant host. The ACS and metadata paths are pasted into customers' IdPs:
never change them (see sso/sp.py)."""
from django.urls import path

from sso import audit_views, discovery_views, settings_views, views

urlpatterns = [
    path("login/", discovery_views.tenant_login, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("sso/login/", views.SsoLoginView.as_view(), name="sso_login"),
    path("sso/acs/", views.AcsView.as_view(), name="sso_acs"),
    path("sso/metadata/", views.sp_metadata, name="sso_metadata"),
    path("sso/certificate.cer", views.sp_certificate, name="sso_sp_certificate"),
    path("sso/slo/", views.slo, name="sso_slo"),
    path("sso/test/<str:reference>/", views.test_result, name="sso_test_result"),
    path("sso/settings/", settings_views.sso_settings, name="sso_settings"),
    path("sso/attempts/<str:reference>/", settings_views.sign_in_attempt_detail, name="sso_attempt"),
    path("account/audit-log/", audit_views.audit_log, name="audit_log"),
    path("account/audit-log.csv", audit_views.audit_log_csv, name="audit_log_csv"),
    path("api/me", views.api_me, name="api_me"),
]
