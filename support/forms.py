"""Forms of support staff's own pages."""
from __future__ import annotations

from django import forms


class StaffOtpForm(forms.Form):
    otp_token = forms.CharField(
        label="Code from your authenticator app", max_length=20, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )
