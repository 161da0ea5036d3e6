from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The project package as an app only so its start-up checks are registered (portal.checks)."""

    name = "portal"
    verbose_name = "Portico"

    def ready(self) -> None:
        from portal import checks  # noqa: F401  (registers the system checks)
