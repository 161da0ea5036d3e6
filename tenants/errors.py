"""Errors of the tenants app; views and commands turn them into messages."""
from __future__ import annotations


class TenantError(ValueError):
    """Bad input for a tenant operation; the message is meant for the operator (or the tenant's admin).

    `code` (a tenants.types.EmailDomainRefusal, say) is the stable reference a message quotes.
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(f"{message} (reference {code})" if code else message)
        self.code = code
