"""Reads over a tenant's users, properties and access."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from provisioning.models import Membership


def membership_state(*, user: AbstractBaseUser) -> str:
    """`active`, `waiting_room` or `disabled` for a signed-in tenant user."""
    if not user.is_active:
        return Membership.State.DISABLED
    state = Membership.objects.filter(user=user).values_list("state", flat=True).first()
    return state or Membership.State.WAITING_ROOM
