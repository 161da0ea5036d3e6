"""Fixtures of the SSO tests."""
from __future__ import annotations

import pytest

from testidp.idp import TestIdP


@pytest.fixture
def test_idp() -> TestIdP:
    """A fresh in-process test IdP (its own key pair), not served over HTTP."""
    return TestIdP("http://idp.test")
