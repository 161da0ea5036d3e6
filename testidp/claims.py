"""Claim URIs Microsoft Entra ID puts in a SAML AttributeStatement by default."""
from __future__ import annotations

TENANT_ID = "http://schemas.microsoft.com/identity/claims/tenantid"
OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
DISPLAY_NAME = "http://schemas.microsoft.com/identity/claims/displayname"
IDENTITY_PROVIDER = "http://schemas.microsoft.com/identity/claims/identityprovider"
AUTHN_METHODS = "http://schemas.microsoft.com/claims/authnmethodsreferences"
GIVEN_NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
SURNAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
# Entra's "name" claim carries the user principal name, not a display name.
NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"

AUTHN_METHOD_PASSWORD = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
