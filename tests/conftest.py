"""Shared fixtures: real PostgreSQL schemas, tenant-host clients, a real Celery worker.

Two tenants, acme and globex, are created once per session (creating a schema runs every tenant
migration, which is the slow part). Tests using `db` run inside a transaction that is rolled back;
tests that cross a process boundary (Celery worker, live server, browser) use `committed_db` and
unique names instead, since the throw-away test database is dropped at the end of the run.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from provisioning.models import AccessLevel, Membership
from tests.provisioning.factories import member_create

REPO = Path(__file__).resolve().parent.parent

TENANTS = {
    "acme": {"name": "Acme Property Management", "hosts": ["acme.localhost", "acme-staging.localhost"],
             "email_domains": ["acme.example"], "properties": [("Harbour View", "harbour-view"), ("Elm Court", "elm-court")]},
    "globex": {"name": "Globex Residential", "hosts": ["globex.localhost"],
               "email_domains": ["globex.example"], "properties": [("Globex Tower", "globex-tower")]},
}


@pytest.fixture(scope="session")
def idp_servers() -> Iterator[dict]:
    """One running test IdP per session tenant (each tenant trusts only its own)."""
    from testidp.idp import TestIdP
    from testidp.server import serve_in_thread

    running = {slug: serve_in_thread(lambda url: TestIdP(url)) for slug in TENANTS}
    yield running
    for server in running.values():
        server.stop()


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_modify_db_settings, django_db_blocker, idp_servers):
    """The test database, always (pytest-django's own creates it only when a collected test asks for
    `db`, and tests that cross a process boundary use `committed_db` instead), with the session tenants."""
    from django.test.utils import setup_databases, teardown_databases

    from provisioning.services import property_create
    from sso.services import idp_configure_from_metadata
    from tenants.models import Tenant
    from tenants.services import public_tenant_ensure, tenant_create

    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        db_cfg = setup_databases(verbosity=verbosity, interactive=False, aliases={"default"}, serialized_aliases=set())
        public_tenant_ensure()
        for slug, spec in TENANTS.items():
            if Tenant.objects.filter(slug=slug).exists():
                continue
            tenant = tenant_create(slug=slug, name=spec["name"], hosts=spec["hosts"],
                                   email_domains=spec["email_domains"], actor="test-setup")
            with schema_context(tenant.schema_name):
                for name, code in spec["properties"]:
                    property_create(name=name, code=code, actor="test-setup")
            idp_configure_from_metadata(tenant=tenant, document=idp_servers[slug].idp.metadata_xml(),
                                        actor="test-setup")
        connection.set_schema_to_public()
    yield
    with django_db_blocker.unblock():
        try:
            teardown_databases(db_cfg, verbosity=verbosity)
        except Exception as exc:  # a straggling connection only leaves a database the next run replaces
            request.node.warn(pytest.PytestWarning(f"Could not drop the test database: {exc!r}"))


@pytest.fixture(autouse=True)
def _public_schema_after_test() -> Iterator[None]:
    """A request through the tenant middleware leaves the connection in that tenant's schema, and
    its cached host routing may name rows the test's rolled-back transaction created."""
    yield
    from django.conf import settings

    if settings.configured and connection.schema_name != "public":
        connection.set_schema_to_public()
    if settings.configured:
        from tenants.routing import routing_invalidate

        routing_invalidate()


@pytest.fixture
def acme(db):
    from tenants.models import Tenant

    return Tenant.objects.get(slug="acme")


@pytest.fixture
def globex(db):
    from tenants.models import Tenant

    return Tenant.objects.get(slug="globex")


def client_for(host: str, **kwargs) -> Client:
    return Client(HTTP_HOST=host, **kwargs)


def login_as(client: Client, user, tenant_slug: str = "acme") -> Client:
    """force_login inside the tenant's schema, where its users and sessions live."""
    with schema_context(tenant_slug):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def acme_client(acme) -> Client:
    return client_for("acme.localhost")


@pytest.fixture
def globex_client(globex) -> Client:
    return client_for("globex.localhost")


@pytest.fixture
def public_client(db) -> Client:
    return client_for("localhost")


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Database access in autocommit mode, visible to other processes and threads."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield
        connection.set_schema_to_public()


def _database_url_of_test_db() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a process that must share this test run's database, Redis and queue."""
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DATABASE_URL=_database_url_of_test_db(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_DEFAULT_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def dns_server() -> Iterator:
    """A real DNS server on 127.0.0.1 (UDP) that the test process and the Celery worker resolve through."""
    from tests.dns_server import LocalDnsServer

    server = LocalDnsServer().start()
    yield server
    server.stop()


@pytest.fixture
def local_dns(dns_server, settings):
    """This process's email domain checks ask the session's DNS server (tests.dns_server.LocalDnsServer)."""
    settings.PORTICO_DNS_RESOLVERS = dns_server.address
    return dns_server


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory, smtp_sink,
                  dns_server) -> Iterator[subprocess.Popen]:
    """A real Celery worker process on the real Redis broker, consuming this run's own queue; it
    sends e-mail to the session's SMTP sink and resolves DNS through the session's DNS server."""
    from django.conf import settings

    from portal.celery import app

    with django_db_blocker.unblock():
        env = worker_env(EMAIL_URL=smtp_sink.url, PORTICO_DNS_RESOLVERS=dns_server.address,
                         **getattr(celery_worker, "extra_env", {}))
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", settings.CELERY_TASK_DEFAULT_QUEUE,
             "--include", "tests.worker_tasks",
             "-n", f"test-{os.getpid()}@%h"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Celery worker exited early:\n{log.read_text()[-4000:]}")
        replies = app.control.ping(timeout=0.5, destination=[f"test-{os.getpid()}@{os.uname().nodename}"])
        if replies:
            break
    else:
        proc.kill()
        raise RuntimeError(f"Celery worker did not answer within 60 s:\n{log.read_text()[-4000:]}")
    proc.log_path = log  # type: ignore[attr-defined]
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- SAML round trips against the running test IdP ---------------------------------------------


@pytest.fixture
def acme_idp(idp_servers):
    """acme's test IdP (a testidp.idp.TestIdP): build responses with .build_response_b64(...)."""
    return idp_servers["acme"].idp


@pytest.fixture
def globex_idp(idp_servers):
    return idp_servers["globex"].idp


def form_fields(html: str) -> tuple[str, dict[str, str]]:
    """(action, {name: value}) of the first form in a page, as a browser would submit it."""
    import lxml.html

    form = lxml.html.fromstring(html).forms[0]
    fields = {name: value for name, value in form.form_values()}
    return form.action or "", fields


def sso_start(client: Client, next_path: str = "/", *, test: bool = False):
    """GET /sso/login/ on the client's tenant host; returns (response, AuthnRequestInfo at the IdP)."""
    from urllib.parse import parse_qs, urlsplit

    from testidp.idp import TestIdP

    query = f"?next={next_path}" + ("&test=1" if test else "")
    response = client.get(f"/sso/login/{query}")
    assert response.status_code == 302, response.content[:500]
    params = parse_qs(urlsplit(response["Location"]).query)
    info = TestIdP("http://parser.invalid").parse_authn_request(params["SAMLRequest"][0], params.get("RelayState", [None])[0])
    return response, info


def idp_sign_in(location: str, email: str, *, first_name: str = "Test", last_name: str = "User",
                scenario: str = "ok", signing: str = "assertion") -> tuple[str, dict[str, str]]:
    """Drive the running test IdP over HTTP as a browser would: open the AuthnRequest URL, fill in
    the sign-in form, return the auto-posting form (ACS URL, {SAMLResponse, RelayState})."""
    import requests

    page = requests.get(location, timeout=10)
    page.raise_for_status()
    action, fields = form_fields(page.text)
    fields.update(email=email, first_name=first_name, last_name=last_name, scenario=scenario, signing=signing)
    base = location.split("/idp/")[0]
    posted = requests.post(base + action, data=fields, timeout=10)
    posted.raise_for_status()
    return form_fields(posted.text)


@pytest.fixture
def sso_sign_in():
    """A real signed SP-initiated round trip: /sso/login/ → test IdP over HTTP → POST to the ACS.

    Returns the ACS response; the client is signed in when it succeeded.
    """
    def sign_in(client: Client, email: str, *, tenant_slug: str = "acme", first_name: str = "Test",
                last_name: str = "User", next_path: str = "/", scenario: str = "ok"):
        start = client.get(f"/sso/login/?next={next_path}")
        assert start.status_code == 302, start.content[:500]
        acs_url, fields = idp_sign_in(start["Location"], email, first_name=first_name, last_name=last_name,
                                      scenario=scenario)
        from urllib.parse import urlsplit

        return client.post(urlsplit(acs_url).path, fields)

    return sign_in


# --- A real SMTP server for e-mails sent by the Celery worker ----------------------------------


class SmtpSink:
    """Collects every message an aiosmtpd server on 127.0.0.1 receives (handler and inbox)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self.messages: list = []  # email.message.EmailMessage, with .envelope_to (list[str])
        self.url = ""

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd handler hook
        import email
        from email import policy

        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        message.envelope_to = [address.lower() for address in envelope.rcpt_tos]
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        with self._lock:
            return [m for m in self.messages if address.lower() in m.envelope_to]

    def wait_for(self, address: str, *, count: int = 1, timeout: float = 30) -> list:
        """The messages to `address` once at least `count` have arrived (or whatever came in time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.to(address)) < count:
            time.sleep(0.1)
        return self.to(address)


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server on a free 127.0.0.1 port for the whole session (started before the worker)."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sink.url = f"smtp://127.0.0.1:{port}"
    yield sink
    controller.stop()


# --- Members at each access level, support staff, Celery in-process (shared by every app's tests) ---

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


def totp_code(device) -> str:
    """The code an authenticator app holding this django-otp TOTP device shows now."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def staff_totp_enrol(user):
    """A real, confirmed TOTP authenticator for a staff account (as enrolment leaves it), replacing
    any earlier one; a fresh device accepts its current code once."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(user=user).delete()
    return TOTPDevice.objects.create(user=user, name="test authenticator", confirmed=True)


@pytest.fixture
def support_user(db):
    user = get_user_model().objects.create_superuser(
        username="ana.support", email="ana@portico.example", password="unused-in-tests")
    staff_totp_enrol(user)
    return user


@pytest.fixture
def support_client(support_user) -> Client:
    """Django admin as support staff: signed in, then the second factor entered with a real code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = client_for("localhost")
    client.force_login(support_user, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post("/admin/2fa/", {"otp_token": totp_code(TOTPDevice.objects.get(user=support_user))})
    assert response.status_code == 302, "the support user's TOTP code was refused"
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


# --- Redis left as found ---------------------------------------------------------------------------

def run_redis_keys(client, queue: str, before: set[bytes]) -> list[bytes]:
    """Keys this run added: its queue and kombu's bindings for it, and task results it stored."""
    return [key for key in client.scan_iter() if queue.encode() in key
            or (key.startswith(b"celery-task-meta-") and key not in before)]


@pytest.fixture(scope="session", autouse=True)
def _redis_left_as_found() -> Iterator[None]:
    """Each run has its own Celery queue (conftest.py); at the end its queue, bindings and results
    go, and the run fails if any key naming the queue is left (a leak would pile up run after run)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    before = set(client.scan_iter(match="celery-task-meta-*"))
    yield
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    for key in run_redis_keys(client, queue, before):
        client.delete(key)
    client.zrem("_kombu.binding_deadlines", *[m for m in client.zrange("_kombu.binding_deadlines", 0, -1)
                                              if queue.encode() in m] or [b""])
    left = [key for key in client.scan_iter() if queue.encode() in key]
    assert not left, f"Redis keys of this run left behind: {left}"
