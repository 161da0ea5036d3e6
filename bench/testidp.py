"""The one place the benchmarks import the test IdP from (it is moving to a top-level `testidp/`:
change this line and nothing else)."""
from sso.testidp.idp import TestIdP  # noqa: F401

__all__ = ["TestIdP"]
