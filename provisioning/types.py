"""Shapes shared by the provisioning app."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from provisioning.models import Membership

if TYPE_CHECKING:
    from support.models import NewUserRequest


class RequestedProperty(TypedDict):
    """How a New User request names a property: the id in the tenant's schema, plus name and code
    so the cross-tenant queue reads well without entering that schema."""

    id: int
    name: str
    code: str


@dataclass(frozen=True)
class WaitingMember:
    """Someone in the Waiting Room, with the New User request support is deciding for them (or None)."""

    membership: Membership
    pending_request: NewUserRequest | None


@dataclass(frozen=True)
class MemberChange:
    """What granting access did: `changes` maps a field to [before, after]; empty means no change."""

    membership: Membership
    user_created: bool
    changes: dict[str, list] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.user_created or bool(self.changes)


@dataclass(frozen=True)
class BulkDecision:
    """The outcome of deciding several New User requests: each is decided on its own."""

    decided: list[int]
    skipped: dict[int, str]  # request id -> why it was not decided
