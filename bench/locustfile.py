"""What `bench.load` has locust do against a running Portico (read `PORTICO_LOAD_PLAN`, a JSON file
bench.load writes: the server's port, and per tenant its host, email domain, property and test IdP
key pair, so responses are signed here, as the IdP would, for each AuthnRequest Portico issues).

Three kinds of visitors, each staying on one host (cookies are per locust user):
  * Discovery: the central page, an email typed in, the tenant's button offered.
  * SignIn: an SP-initiated sign-in, half of them new people (just-in-time), half returning members;
    the session is checked against /api/me, then the home page is viewed; one in ten also replays
    the response it just used from a fresh browser, which must be refused.
  * Requester: a Client Administrator who signed in once views pages and files New User requests.

Each task run is also reported as one ACTION entry (its whole duration), for actions per second.
Checks that are not HTTP failures are reported as their own entries (request_type CHECK) so they
land in locust's JSON output: `5xx`, `lost session`, `accepted replay`.
"""
from __future__ import annotations

import html
import itertools
import json
import os
import random
import re
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# locust puts this file's folder first on sys.path, where bench/testidp.py would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from locust import HttpUser, between, constant_throughput, events, task  # noqa: E402

from testidp.idp import TestIdP  # noqa: E402
from testidp.keys import KeyPair  # noqa: E402

PLAN = json.loads(open(os.environ["PORTICO_LOAD_PLAN"]).read())
PORT = PLAN["port"]
PER_USER_RATE = PLAN["per_user_rate"]
TENANTS = [dict(t, idp=TestIdP(t["idp_base_url"], keypair=KeyPair(key_pem=t["key_pem"], cert_pem=t["cert_pem"])))
           for t in PLAN["tenants"]]
FORM_FIELD = re.compile(r'name="(SAMLResponse|RelayState|portico_bounce)" value="([^"]*)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_serial = itertools.count(1)


def action(function):
    """A visitor action (one task run, several requests), reported as request_type ACTION with its
    whole duration, so the JSON output counts actions per second against the target rate."""
    import functools
    import time

    @functools.wraps(function)
    def run(self) -> None:
        started = time.perf_counter()
        function(self)
        events.request.fire(request_type="ACTION", name=function.__name__, response_length=0, exception=None,
                            response_time=(time.perf_counter() - started) * 1000, context={})

    return run


def check_failed(name: str, detail: str) -> None:
    events.request.fire(request_type="CHECK", name=name, response_time=0, response_length=0,
                        exception=AssertionError(detail), context={})


def _status_check(response, expected: tuple[int, ...]) -> bool:
    if response.status_code >= 500:
        check_failed("5xx", f"{response.request.method} {response.request.path_url}: {response.status_code}")
    if response.status_code not in expected:
        response.failure(f"HTTP {response.status_code}")
        return False
    response.success()
    return True


class _OnHost(HttpUser):
    abstract = True
    wait_time = constant_throughput(PER_USER_RATE) if PER_USER_RATE > 0 else between(0.5, 1.5)
    host_name = "localhost"

    def _headers(self) -> dict[str, str]:
        return {"Host": f"{self.host_name}:{PORT}"}

    def get(self, path: str, name: str, expected: tuple[int, ...] = (200,)):
        with self.client.get(path, headers=self._headers(), name=name, allow_redirects=False,
                             catch_response=True) as response:
            return response if _status_check(response, expected) else None

    def post(self, path: str, data: dict, name: str, expected: tuple[int, ...] = (200, 302)):
        with self.client.post(path, data=data, headers=self._headers(), name=name, allow_redirects=False,
                              catch_response=True) as response:
            return response if _status_check(response, expected) else None

    def sign_in(self, tenant: dict, email: str) -> tuple[bool, dict]:
        """SP-initiated: /sso/login/ → (the IdP, here) → the IdP's POST → the same-site bounce."""
        start = self.get("/sso/login/?next=/", "sso login", (302,))
        if start is None:
            return False, {}
        params = parse_qs(urlsplit(start.headers["Location"]).query)
        request_id = tenant["idp"].parse_authn_request(params["SAMLRequest"][0], None).id
        base = f"http://{tenant['host']}:{PORT}"
        b64 = tenant["idp"].build_response_b64(acs_url=f"{base}/sso/acs/", audience=f"{base}/sso/metadata/",
                                               email=email, in_response_to=request_id)
        fields = {"SAMLResponse": b64, "RelayState": params.get("RelayState", ["/"])[0]}
        # A browser sends no Lax cookies with the IdP's cross-site POST and gets the bounce page;
        # locust's client sends its cookies, which Portico then takes at once (a 302).
        done = self.post("/sso/acs/", fields, "acs", (200, 302))
        if done is not None and done.status_code == 200:
            bounced = {name: html.unescape(value) for name, value in FORM_FIELD.findall(done.text)}
            done = self.post("/sso/acs/", bounced, "acs (same-site)", (302,))
        if done is None or not self.client.cookies.get("sessionid"):
            return False, fields
        me = self.get("/api/me", "api/me")
        if me is None or me.json().get("email") != email:
            check_failed("lost session", email)
            return False, fields
        return True, fields


class Discovery(_OnHost):
    weight = 2

    @task
    @action
    def discover(self) -> None:
        tenant = random.choice(TENANTS)
        page = self.get("/", "central page")
        token = CSRF.search(page.text) if page is not None else None
        if token is None:
            return
        answer = self.post("/", {"csrfmiddlewaretoken": token.group(1), "email": f"someone@{tenant['domain']}",
                                 "next": "/"}, "discovery", (200,))
        if answer is not None and "/sso/login/" not in answer.text:
            answer.failure("no sign-in button for the tenant")


class SignIn(_OnHost):
    weight = 3

    def on_start(self) -> None:
        self.tenant = random.choice(TENANTS)
        self.host_name = self.tenant["host"]

    @task
    @action
    def sign_in_and_look_around(self) -> None:
        self.client.cookies.clear()  # a new browser each time
        n = next(_serial)
        email = (f"member{n % PLAN['returning_users']}@{self.tenant['domain']}" if n % 2
                 else f"jit-{PLAN['run_id']}-{uuid.uuid4().hex[:10]}@{self.tenant['domain']}")
        ok, fields = self.sign_in(self.tenant, email)
        if not ok:
            return
        self.get("/", "home", (200, 302))
        if n % 10 == 0:  # the same response from another browser: single use
            self.client.cookies.clear()
            replay = self.post("/sso/acs/", dict(fields, portico_bounce="1"), "acs replay", (400, 403))
            if replay is None or self.client.cookies.get("sessionid"):
                check_failed("accepted replay", email)


class Requester(_OnHost):
    weight = 1

    def on_start(self) -> None:
        self.tenant = random.choice(TENANTS)
        self.host_name = self.tenant["host"]
        self.signed_in, _ = self.sign_in(self.tenant, f"member{random.randrange(PLAN['returning_users'])}"
                                                      f"@{self.tenant['domain']}")

    @task(2)
    @action
    def view_pages(self) -> None:
        if self.signed_in:
            self.get("/", "home", (200, 302))
            self.get(f"/properties/{self.tenant['property_code']}/manage/", "property manage")

    @task(1)
    @action
    def new_user_request(self) -> None:
        if not self.signed_in:
            return
        path = f"/properties/{self.tenant['property_code']}/manage/"
        page = self.get(path, "property manage")
        token = CSRF.search(page.text) if page is not None else None
        if token is None:
            return
        self.post(path, {"csrfmiddlewaretoken": token.group(1),
                         "email": f"new-{PLAN['run_id']}-{uuid.uuid4().hex[:10]}@{self.tenant['domain']}",
                         "first_name": "Load", "last_name": "Test", "access_level": "technician",
                         "properties": str(self.tenant["property_pk"])}, "new user request", (302,))
