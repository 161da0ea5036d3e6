"""Errors of the provisioning app; views, admin and commands turn them into messages."""


class ProvisioningError(ValueError):
    """Bad input for a provisioning operation; the message is meant for the person acting."""


class NotAllowed(ProvisioningError):
    """The acting user's access level does not allow this."""
