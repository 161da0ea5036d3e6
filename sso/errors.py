"""Errors of the SSO app; views, admin and commands turn them into messages."""
from __future__ import annotations

from sso.types import ConfigErrorCode, RejectCode


class SsoConfigError(ValueError):
    """An IdP configuration was refused; the message tells a customer admin what to fix."""

    def __init__(self, message: str, *, code: ConfigErrorCode = ConfigErrorCode.invalid,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class SignInRejected(Exception):
    """A sign-in was refused at the ACS; `code` is stable, `detail` is for admins, never secret."""

    def __init__(self, code: RejectCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class SsoConfigNeedsConfirm(SsoConfigError):
    """A connection looks like a mistake: nothing was saved; saving again with confirm=True proceeds."""

    def __init__(self, warnings: list) -> None:
        super().__init__("Check these warnings before saving: " + " ".join(w.text for w in warnings),
                         field="confirm")
        self.warnings = warnings
