from django.apps import AppConfig


class ScimConfig(AppConfig):
    name = "scim"
    verbose_name = "Directory sync (SCIM)"
    default_auto_field = "django.db.models.BigAutoField"
