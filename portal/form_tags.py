"""`{% load form_tags %}`: form-field helpers shared by the provisioning and SSO templates."""
from __future__ import annotations

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def described_control(field: BoundField) -> SafeString:
    """The field's control, pointing screen readers at its help text and errors.

    The ids are `<auto_id>_helptext` and `<auto_id>_errors`, as the field templates render them;
    Django's own aria-describedby names `<auto_id>_error`, which no template here renders.
    Django adds aria-invalid="true" itself when the field has errors.
    """
    ids = []
    if field.help_text or getattr(field.field, "default_claims", ""):  # SSO claim fields show their defaults as help
        ids.append(f"{field.auto_id}_helptext")
    if field.errors:
        ids.append(f"{field.auto_id}_errors")
    return field.as_widget(attrs={"aria-describedby": " ".join(ids)} if ids else None)
