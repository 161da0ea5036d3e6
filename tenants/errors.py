"""Errors of the tenants app; views and commands turn them into messages."""


class TenantError(ValueError):
    """Bad input for a tenant operation; the message is meant for the operator."""
