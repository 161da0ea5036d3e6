"""Fixtures of the provisioning tests: members at each access level, support staff, e-mail."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from provisioning.models import AccessLevel, Membership
from tests.conftest import client_for, login_as
from tests.provisioning.factories import member_create


@pytest.fixture
def acme_ca(acme):
    return member_create(access_level=AccessLevel.CLIENT_ADMINISTRATOR, properties=(), first_name="Cara",
                         last_name="Admin")


@pytest.fixture
def acme_pm(acme):
    return member_create(access_level=AccessLevel.PROPERTY_MANAGER, properties=("harbour-view",),
                         first_name="Pete", last_name="Manager")


@pytest.fixture
def acme_tech(acme):
    return member_create(access_level=AccessLevel.TECHNICIAN, properties=("harbour-view",), first_name="Tess",
                         last_name="Tech")


@pytest.fixture
def acme_waiting(acme):
    return member_create(access_level="", properties=(), state=Membership.State.WAITING_ROOM,
                         origin=Membership.Origin.JUST_IN_TIME, first_name="Wanda", last_name="Waiting")


@pytest.fixture
def globex_pm(globex):
    return member_create(tenant="globex", access_level=AccessLevel.PROPERTY_MANAGER, properties=("globex-tower",),
                         first_name="Gil", last_name="Globex")


@pytest.fixture
def as_member():
    """as_member(user, tenant="acme") -> a client on that tenant's host, signed in as user."""
    def sign_in(user, tenant: str = "acme") -> Client:
        host = {"acme": "acme.localhost", "globex": "globex.localhost"}[tenant]
        return login_as(client_for(host), user, tenant)

    return sign_in


@pytest.fixture
def support_user(db):
    return get_user_model().objects.create_superuser(
        username="ana.support", email="ana@portico.example", password="unused-in-tests")


@pytest.fixture
def support_client(support_user) -> Client:
    client = client_for("localhost")
    client.force_login(support_user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def eager_tasks(settings):
    """Run Celery tasks in this process, at once (for tests where the queue is not the point);
    e-mails land in django.core.mail.outbox."""
    from portal.celery import app

    previous = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous
