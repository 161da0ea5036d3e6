"""The IdP's health columns: stamped by sign-ins, at most once a minute (one hot row per tenant)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from sso.models import IdentityProvider, SignInAttempt
from sso.services import sign_in_attempt_record

pytestmark = pytest.mark.django_db


def _record(tenant, outcome=SignInAttempt.Outcome.SUCCESS):
    return sign_in_attempt_record(tenant=tenant, outcome=outcome, code="ok")


def test_a_sign_in_stamps_the_idp_health_and_a_fresh_stamp_is_not_rewritten(acme):
    IdentityProvider.objects.filter(tenant=acme).update(last_success_at=None, last_failure_at=None)
    first = _record(acme)
    assert IdentityProvider.objects.get(tenant=acme).last_success_at == first.created
    _record(acme)
    assert IdentityProvider.objects.get(tenant=acme).last_success_at == first.created


def test_a_stamp_older_than_a_minute_moves_on(acme):
    IdentityProvider.objects.filter(tenant=acme).update(last_success_at=None)
    first = _record(acme)
    IdentityProvider.objects.filter(tenant=acme).update(last_success_at=first.created - timedelta(seconds=61))
    second = _record(acme)
    assert IdentityProvider.objects.get(tenant=acme).last_success_at == second.created


def test_failures_stamp_their_own_column(acme):
    IdentityProvider.objects.filter(tenant=acme).update(last_success_at=None, last_failure_at=None)
    failure = _record(acme, SignInAttempt.Outcome.FAILURE)
    idp = IdentityProvider.objects.get(tenant=acme)
    assert idp.last_failure_at == failure.created and idp.last_success_at is None
