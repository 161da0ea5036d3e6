"""Forms check the shape of what was typed; the rules (domains, duplicates, who may grant what)
live in provisioning.services, whose errors the views put next to the right field."""
from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.db.models import QuerySet

from provisioning.errors import ProvisioningError
from provisioning.models import AccessLevel, Property


class _AccessFields(forms.Form):
    access_level = forms.ChoiceField(
        label="Access level",
        error_messages={"invalid_choice": "You can't grant that access level."},
    )
    properties = forms.ModelMultipleChoiceField(
        label="Properties",
        queryset=Property.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": "You can't grant access to that property."},
    )

    def __init__(self, *args, levels: Sequence[AccessLevel], properties: QuerySet[Property], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        access_level, granted = self.fields["access_level"], self.fields["properties"]
        assert isinstance(access_level, forms.ChoiceField) and isinstance(granted, forms.ModelMultipleChoiceField)
        access_level.choices = [(level.value, level.label) for level in levels]
        granted.queryset = properties

    def add_service_error(self, error: ProvisioningError) -> None:
        """Put each of the service's problems next to its field (or above the form), beside the
        form's own errors, so one submit reports everything."""
        for problem in error.problems:
            field = problem.field if problem.field in self.fields else None
            if field is None or problem.message not in self.errors.get(field, []):
                self.add_error(field, problem.message)


class NewUserForm(_AccessFields):
    """The New User form on a property's Manage page (the ServusConnect flow)."""

    field_order = ["email", "first_name", "last_name", "access_level", "properties"]

    email = forms.EmailField(label="Email address", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    first_name = forms.CharField(label="First name", max_length=150)
    last_name = forms.CharField(label="Surname", max_length=150)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["properties"].help_text = "The properties this person gets access to."


class TeamMemberForm(NewUserForm):
    """Add Team Member (Client Administrators): same fields, takes effect at the next sign-in."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["properties"].help_text = (
            "Needed for Technicians and Property Managers; Client Administrators see every property."
        )


class MemberAccessForm(_AccessFields):
    """Change a team member's access level and properties."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["properties"].help_text = (
            "Needed for Technicians and Property Managers; Client Administrators see every property."
        )


class RejectionForm(forms.Form):
    """Support staff's reason for rejecting New User requests (sent to the requester)."""

    reason = forms.CharField(
        label="Reason for rejection",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        max_length=4000,
        help_text="The requester receives this by e-mail.",
    )
