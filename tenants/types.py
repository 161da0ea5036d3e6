"""Shapes shared by the tenants app."""
from __future__ import annotations

from typing import Union

from django.contrib.auth.models import AbstractBaseUser

# Who did something: a signed-in user (tenant user or support staff) or a label such as "cli".
Actor = Union[AbstractBaseUser, str, None]
