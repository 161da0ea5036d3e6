"""Shapes shared by the tenants app."""
from __future__ import annotations

from enum import StrEnum
from typing import Union

from django.contrib.auth.models import AbstractBaseUser

# Who did something: a signed-in user (tenant user or support staff) or a label such as "cli".
Actor = Union[AbstractBaseUser, str, None]


class EmailDomainRefusal(StrEnum):
    """Why an email domain was refused or could not be verified: the reference every message ends with."""

    invalid = "DOMAIN-INVALID"
    webmail = "DOMAIN-WEBMAIL"  # a public mailbox provider's domain (tenants/public_email_domains.txt)
    portico = "DOMAIN-PORTICO"  # Portico's own base domain or one under it
    taken = "DOMAIN-TAKEN"  # verified by another tenant
    parent_taken = "DOMAIN-PARENT-TAKEN"  # under a domain another tenant holds verified
    not_yours = "DOMAIN-NOT-YOURS"  # not one of this tenant's domains (verify/remove)
    # A DNS check that did not verify (the settings page's Verify now):
    dns_not_found = "DOMAIN-DNS-NOT-FOUND"
    dns_mismatch = "DOMAIN-DNS-MISMATCH"
    dns_error = "DOMAIN-DNS-ERROR"


class DomainCheck(StrEnum):
    """The outcome of one DNS check of a pending claim (EmailDomain.check_result)."""

    verified = "verified"
    already_verified = "already_verified"
    not_found = "not_found"  # no TXT record at the verification name
    mismatch = "mismatch"  # TXT records there, none with this claim's token
    dns_error = "dns_error"  # no answer from the resolvers (timeout, SERVFAIL): tried again later
    taken = "taken"  # the record is right but another tenant verified the domain (or a parent) first
    gone = "gone"  # the claim was removed since the check was queued
