"""Errors of the provisioning app; views, admin and commands turn them into messages."""
from __future__ import annotations


class ProvisioningError(ValueError):
    """Bad input for a provisioning operation; the message is meant for the person acting.

    `field` names the form field the message belongs next to, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(ProvisioningError):
    """The acting user's access level does not allow this."""


class AlreadyDecided(ProvisioningError):
    """A New User request was approved or rejected already (e.g. by another support agent)."""



class SetupLinkRefused(ProvisioningError):
    """A set-up link that cannot be used: unknown (or another tenant's), expired or used already."""


class SetupLinkExpired(SetupLinkRefused):
    pass


class SetupLinkUsed(SetupLinkRefused):
    pass


class AlreadyAsked(ProvisioningError):
    """A Waiting Room visitor pressed "Ask for access" again within the rate limit."""
