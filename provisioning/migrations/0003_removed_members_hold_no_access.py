"""Removed members hold no access: clear the level and properties member_remove used to keep, so
giving access again grants only what that grant says (issue 9)."""
from django.db import migrations


def clear_removed_access(apps, schema_editor):
    Membership = apps.get_model("provisioning", "Membership")
    removed = Membership.objects.filter(state="disabled")
    Membership.properties.through.objects.filter(membership__in=removed).delete()
    removed.exclude(access_level="").update(access_level="")


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0002_identity_binding_and_directory_states")]
    operations = [migrations.RunPython(clear_removed_access, migrations.RunPython.noop)]
