"""Forms of the sign-in page, the SSO settings page and the support admin.

They only shape input; the services decide (and explain) what is acceptable metadata or a certificate.
"""
from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from provisioning.models import AccessLevel
from sso.errors import SsoConfigError
from sso.models import IdentityProvider, default_attribute_mapping
from sso.types import IdpOptions

# --- Sign-in (email-first discovery) ----------------------------------------------------------------


class DiscoveryForm(forms.Form):
    email = forms.EmailField(
        label="Work email", max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True, "placeholder": "you@company.com",
                                       "spellcheck": "false", "autocapitalize": "none"}),
        error_messages={"invalid": "Enter your full work email address, such as alex@company.com.",
                        "required": "Enter your work email address."},
    )
    next = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)


# --- Uploads -----------------------------------------------------------------------------------------


def upload_read(upload: UploadedFile, *, what: str) -> bytes:
    """The whole upload, refusing anything over the request cap before reading it into memory."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if upload.size is not None and upload.size > limit:
        raise forms.ValidationError(
            f"The {what} is larger than {limit // (1024 * 1024)} MB, the most Portico accepts.", code="too_large")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise forms.ValidationError(
            f"The {what} is larger than {limit // (1024 * 1024)} MB, the most Portico accepts.", code="too_large")
    if not data.strip():
        raise forms.ValidationError(f"The {what} is empty.", code="empty")
    return data


class ConfigErrorMixin(forms.Form):
    """Put a service's SsoConfigError next to the field it is about (or at the top of the form)."""

    error_fields: dict[str, str] = {}
    default_error_field: str | None = None

    def add_config_error(self, exc: SsoConfigError) -> None:
        field = self.error_fields.get(exc.field or "", self.default_error_field)
        self.add_error(field if field in self.fields else None, str(exc))


class MetadataUploadForm(ConfigErrorMixin, forms.Form):
    metadata_file = forms.FileField(
        label="Federation Metadata XML",
        help_text="In Entra: Enterprise applications → your app → Single sign-on → SAML Certificates → "
                  "Federation Metadata XML → Download.",
        widget=forms.ClearableFileInput(attrs={"accept": ".xml,application/xml,text/xml,application/samlmetadata+xml"}),
    )
    error_fields = {"metadata": "metadata_file", "email_domains": "metadata_file"}
    default_error_field = "metadata_file"

    def clean_metadata_file(self) -> bytes:
        return upload_read(self.cleaned_data["metadata_file"], what="metadata file")


class MetadataUrlForm(ConfigErrorMixin, forms.Form):
    metadata_url = forms.CharField(
        label="App Federation Metadata Url", max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://login.microsoftonline.com/…/federationmetadata/2007-06/"
                                                    "federationmetadata.xml?appid=…", "spellcheck": "false"}),
        help_text="Portico downloads it now and again every day, so certificate rotations in Entra reach "
                  "Portico on their own.",
    )
    default_error_field = "metadata_url"

    def clean_metadata_url(self) -> str:
        return self.cleaned_data["metadata_url"].strip()


class ManualForm(ConfigErrorMixin, forms.Form):
    sso_url = forms.CharField(
        label="Login URL (SSO target URL)", max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://login.microsoftonline.com/<tenant id>/saml2",
                                     "spellcheck": "false"}),
    )
    entity_id = forms.CharField(
        label="Microsoft Entra Identifier (IdP entity ID)", max_length=1024,
        widget=forms.TextInput(attrs={"placeholder": "https://sts.windows.net/<tenant id>/", "spellcheck": "false"}),
    )
    certificate = forms.CharField(
        label="Certificate (Base64)", required=False, max_length=64 * 1024,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false",
                                     "placeholder": "-----BEGIN CERTIFICATE-----\nMIIC8DCCAdigAwIBAgIQ…\n"
                                                    "-----END CERTIFICATE-----"}),
        help_text="Open the downloaded .cer file in a text editor and paste all of it, or choose the file below.",
    )
    certificate_file = forms.FileField(
        label="…or the certificate file", required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".cer,.crt,.pem,.der"}),
    )
    additional_certificate = forms.CharField(
        label="Second certificate (optional, while Entra rotates to a new one)", required=False, max_length=64 * 1024,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    error_fields = {"sso_url": "sso_url", "entity_id": "entity_id", "certificate": "certificate",
                    "email_domains": "entity_id"}
    default_error_field = None

    def clean_certificate_file(self) -> bytes | None:
        upload = self.cleaned_data.get("certificate_file")
        return upload_read(upload, what="certificate file") if upload else None

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        certificates: list[str | bytes] = []
        for name in ("certificate", "certificate_file", "additional_certificate"):
            value = cleaned.get(name)
            if value and (value.strip() if isinstance(value, str) else value):
                certificates.append(value)
        if not certificates and "certificate_file" not in self.errors:
            self.add_error("certificate", "Paste the IdP's signing certificate (Certificate (Base64) in Entra), "
                                          "or choose the certificate file.")
        cleaned["certificates"] = certificates
        return cleaned


# --- Email domains ------------------------------------------------------------------------------------


class EmailDomainForm(forms.Form):
    domain = forms.CharField(
        label="Email domain", max_length=253,
        widget=forms.TextInput(attrs={"placeholder": "company.com", "spellcheck": "false", "autocapitalize": "none"}),
        help_text="Everyone whose address ends in @this-domain signs in through your identity provider, once "
                  "the domain is verified by its DNS TXT record.",
    )


# --- Options and attribute mapping -----------------------------------------------------------------------

ATTRIBUTE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("email", "Email", "The user's address; the NameID is used when none of these is sent."),
    ("first_name", "First name", ""),
    ("last_name", "Last name", ""),
    ("display_name", "Display name", ""),
    ("object_id", "Object ID", "Entra's stable user id (oid)."),
    ("groups", "Groups", "Group ids the user belongs to, for the access-level mapping below."),
)
_CLAIM_RE = re.compile(r"^[^\s,<>\"']{1,256}$")
_SPLIT_RE = re.compile(r"[,\r\n]+")
MAX_CLAIMS_PER_FIELD = 12
MAX_GROUP_LINES = 200


def claim_list_parse(text: str) -> list[str]:
    names = [name.strip() for name in _SPLIT_RE.split(text or "") if name.strip()]
    return list(dict.fromkeys(names))


def group_levels_parse(text: str, *, max_level: str) -> dict[str, str]:
    """`group-id = access-level` per line; blank lines and # comments are ignored."""
    mapping: dict[str, str] = {}
    lines = (text or "").splitlines()
    if len(lines) > MAX_GROUP_LINES:
        raise forms.ValidationError(f"At most {MAX_GROUP_LINES} lines.")
    allowed = [level for level in AccessLevel if AccessLevel.rank(level) <= AccessLevel.rank(max_level)]
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        group, sep, level_text = line.rpartition("=")
        group = group.strip()
        if not sep or not group or not level_text.strip():
            raise forms.ValidationError(f"Line {number}: write it as group-id = access-level.")
        if not _CLAIM_RE.match(group):
            raise forms.ValidationError(f"Line {number}: {group!r} is not a valid group id.")
        level = AccessLevel.parse(level_text)
        if level is None or level not in allowed:
            choices = ", ".join(level.value for level in allowed)
            raise forms.ValidationError(f"Line {number}: {level_text.strip()!r} is not an access level you can "
                                        f"grant. Use one of: {choices}.")
        mapping[group] = level.value
    return mapping


def group_levels_format(mapping: dict[str, str]) -> str:
    return "\n".join(f"{group} = {level}" for group, level in (mapping or {}).items())


class ClaimsField(forms.CharField):
    """Claim names, one per line; `default_claims` is what the page offers to restore."""

    def __init__(self, *, default_claims: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_claims = default_claims


def _attribute_field(key: str) -> forms.CharField:
    label, help_text = next((label, help_text) for k, label, help_text in ATTRIBUTE_FIELDS if k == key)
    return ClaimsField(
        label=label, required=key == "email", max_length=4000, help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "claims"}),
        default_claims=", ".join(default_attribute_mapping()[key]),
    )


class AttributeMappingFields(forms.Form):
    """The attribute-mapping inputs, shared by the settings page and the support admin's form."""

    attr_email = _attribute_field("email")
    attr_first_name = _attribute_field("first_name")
    attr_last_name = _attribute_field("last_name")
    attr_display_name = _attribute_field("display_name")
    attr_object_id = _attribute_field("object_id")
    attr_groups = _attribute_field("groups")
    group_access_levels = forms.CharField(
        label="Groups → access level", required=False, max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false",
                                     "placeholder": "6f1c2a4e-…-group-object-id = technician"}),
        help_text="One per line: group-id = access-level (technician, property-manager, client-administrator). "
                  "In Entra add a group claim (Attributes & Claims → Add a group claim, Group ID).",
    )


class OptionsForm(AttributeMappingFields):
    display_name = forms.CharField(
        label="Button label", max_length=100,
        help_text='Shown as "Log In with …" on the sign-in page, e.g. Microsoft.',
    )
    allow_idp_initiated = forms.BooleanField(
        label="Allow IdP-initiated sign-in", required=False,
        help_text="Needed for Entra's \"Test this application\" button and the My Apps tile. Portico still "
                  "checks every response; leave it off if your users always start at Portico.",
    )
    restrict_email_domains = forms.BooleanField(
        label="Only addresses in our email domains", required=False,
        help_text="Refuse sign-ins whose email is outside the domains listed above.",
    )

    def __init__(self, *args: Any, max_access_level: str = AccessLevel.CLIENT_ADMINISTRATOR, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.max_access_level = max_access_level

    @classmethod
    def initial_for(cls, idp: IdentityProvider) -> dict[str, object]:
        mapping = {**default_attribute_mapping(), **(idp.attribute_mapping or {})}
        initial: dict[str, object] = {
            "display_name": idp.display_name, "allow_idp_initiated": idp.allow_idp_initiated,
            "restrict_email_domains": idp.restrict_email_domains,
            "group_access_levels": group_levels_format(idp.group_access_levels),
        }
        for key, _label, _help in ATTRIBUTE_FIELDS:
            initial[f"attr_{key}"] = "\n".join(mapping.get(key, []))
        return initial

    @property
    def attribute_fields(self) -> list[forms.BoundField]:
        return [self[f"attr_{key}"] for key, _label, _help in ATTRIBUTE_FIELDS]

    def clean_display_name(self) -> str:
        value = " ".join(self.cleaned_data["display_name"].split())
        if not value:
            raise forms.ValidationError("Give the button a label, e.g. Microsoft.")
        return value

    def clean_group_access_levels(self) -> dict[str, str]:
        return group_levels_parse(self.cleaned_data.get("group_access_levels", ""), max_level=self.max_access_level)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        mapping: dict[str, list[str]] = {}
        for key, _label, _help in ATTRIBUTE_FIELDS:
            field = f"attr_{key}"
            if field not in cleaned:
                continue
            names = claim_list_parse(cleaned[field])
            bad = [name for name in names if not _CLAIM_RE.match(name)]
            if bad:
                self.add_error(field, f"{bad[0]!r} is not a claim name: no spaces, quotes or angle brackets.")
            elif len(names) > MAX_CLAIMS_PER_FIELD:
                self.add_error(field, f"At most {MAX_CLAIMS_PER_FIELD} claim names.")
            elif key == "email" and not names:
                self.add_error(field, "Give at least one claim that carries the email address.")
            else:
                mapping[key] = names
        cleaned["attribute_mapping"] = mapping
        return cleaned

    def options(self) -> IdpOptions:
        """Keyword arguments for sso.services.idp_options_update."""
        data = self.cleaned_data
        return {
            "display_name": data["display_name"], "allow_idp_initiated": data["allow_idp_initiated"],
            "restrict_email_domains": data["restrict_email_domains"],
            "attribute_mapping": data["attribute_mapping"], "group_access_levels": data["group_access_levels"],
        }
