"""Errors of directory sync; the SCIM views turn them into RFC 7644 error responses."""
from __future__ import annotations


class ScimError(Exception):
    """An RFC 7644 §3.12 error: HTTP `status`, optional `scim_type`, a `detail` for Entra's provisioning logs."""

    def __init__(self, status: int, detail: str, *, scim_type: str = "", location: str = "",
                 retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.location = location
        self.retry_after = retry_after


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, scim_type="invalidValue")


def invalid_path(detail: str) -> ScimError:
    return ScimError(400, detail, scim_type="invalidPath")


def invalid_filter(detail: str) -> ScimError:
    return ScimError(400, detail, scim_type="invalidFilter")


def not_found(detail: str = "No such resource.") -> ScimError:
    return ScimError(404, detail)
