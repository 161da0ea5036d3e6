from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    """The project package as an app only so its start-up checks are registered (portal.checks)."""

    default = True
    name = "portal"
    verbose_name = "Portico"

    def ready(self) -> None:
        from portal import checks  # noqa: F401  (registers the system checks)


class PorticoAdminConfig(admin_apps.AdminConfig):
    """Django admin whose site (admin.site) is Portico's: staff need a verified second factor.
    Named in INSTALLED_APPS instead of django.contrib.admin."""

    default = False
    default_site = "portal.admin_site.PorticoAdminSite"
