"""Errors of the provisioning app; views, admin and commands turn them into messages."""
from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied


class ProvisioningError(ValueError):
    """Bad input for a provisioning operation; the message is meant for the person acting.

    `field` names the form field the message belongs next to, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def problems(self) -> list["ProvisioningError"]:
        """Each problem on its own (several for a Problems), so a form can show them all at once."""
        return [self]


class Problems(ProvisioningError):
    """Several problems with one input, reported together rather than one per submit."""

    def __init__(self, problems: list[ProvisioningError]) -> None:
        super().__init__(" ".join(p.message for p in problems))
        self._problems = problems

    @property
    def problems(self) -> list[ProvisioningError]:
        return list(self._problems)


def problems_raise(problems: list[ProvisioningError]) -> None:
    """Raise nothing, the one problem, or all of them together."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise Problems(problems)


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


class SignInRefusal(StrEnum):
    """Why a verified assertion does not sign anyone in (codes the SAML path records)."""

    SUSPENDED = "member_suspended"
    DEPROVISIONED = "member_deprovisioned"
    IDENTITY_MISMATCH = "identity_mismatch"


SIGN_IN_REFUSAL_TEXT: dict[SignInRefusal, str] = {
    SignInRefusal.SUSPENDED: "This person is suspended by the organisation's directory (Entra provisioning): "
                             "sign-in is refused until the directory enables them again.",
    SignInRefusal.DEPROVISIONED: "This person was removed by the organisation's directory (Entra provisioning).",
    SignInRefusal.IDENTITY_MISMATCH: "The account with this e-mail is bound to another identity (immutable ID) "
                                     "of the identity provider; the sign-in was refused, not merged.",
}


class SignInRefused(ProvisioningError, PermissionDenied):
    """A verified assertion that must not sign anyone in. A PermissionDenied, so Django's
    `authenticate()` (and djangosaml2's ACS after it) turn it into a refused sign-in, never a 500."""

    def __init__(self, code: SignInRefusal, *, email: str = "") -> None:
        super().__init__(SIGN_IN_REFUSAL_TEXT[code])
        self.code = code
        self.email = email
