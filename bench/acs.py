"""ACS benchmark over HTTP against the production server command (gunicorn), real PostgreSQL and Redis.

    .venv/bin/python -m bench.acs [--signins N] [--clients C] [--workers W] [--threads T]

Creates a throw-away database (dropped afterwards) with two tenants, each trusting its own test IdP,
starts gunicorn on a free 127.0.0.1 port with DEBUG=false and a random SECRET_KEY, and drives it like
a browser and an IdP would: the IdP's cross-site POST to /sso/acs/ (no cookies), the bounce page,
the same-site POST back (with the browser's cookies), the 302 with a session cookie. Responses are
minted before the clock starts (signing is not measured), each with a fresh assertion ID; for
SP-initiated sign-ins each "browser" first GETs /sso/login/ and the response answers that request.
Every session cookie is then checked against /api/me. In the same run: stock pysaml2's
parse_authn_request_response of the same responses (baseline), Portico's in-process verifier alone
(ceiling), and the load generator against a static file (its own ceiling).
"""
from __future__ import annotations

import argparse
import base64
import html
import http.client
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# --- a throw-away database and a production server on it -------------------------------------

class Stack:
    """Throw-away database + gunicorn on loopback. Use as a context manager."""

    def __init__(self, *, workers: int, threads: int, tenants: int) -> None:
        base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portico")
        parts = urlsplit(base)
        self.admin_url = parts._replace(path="/postgres").geturl()
        self.db_name = f"{parts.path.lstrip('/')}_bench_{os.getpid()}"
        self.db_url = parts._replace(path=f"/{self.db_name}").geturl()
        self.port = free_port()
        self.workers, self.threads, self.tenant_count = workers, threads, tenants
        self.run_id = secrets.token_hex(3)
        self.static_root = Path(tempfile.mkdtemp(prefix="portico-bench-static-"))
        self.env = dict(os.environ, DATABASE_URL=self.db_url, DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50),
                        PORTICO_BASE_URL=f"http://localhost:{self.port}", STATIC_ROOT=str(self.static_root),
                        CELERY_TASK_DEFAULT_QUEUE=f"portico-bench-{self.run_id}",
                        # Every simulated browser comes from 127.0.0.1, so per-IP limits would throttle
                        # the benchmark itself; tests/portal/test_ratelimit.py covers the limits.
                        PORTICO_RATELIMIT_ENABLED="false",
                        GUNICORN_WORKERS=str(workers), GUNICORN_THREADS=str(threads),
                        GUNICORN_BIND=f"{HOST}:{self.port}", LOG_LEVEL="WARNING")
        self.proc: subprocess.Popen | None = None
        self.tenants: list[dict] = []

    def _sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    def __enter__(self) -> "Stack":
        self._sql(f'DROP DATABASE IF EXISTS "{self.db_name}"')
        self._sql(f'CREATE DATABASE "{self.db_name}"')
        os.environ.update({k: self.env[k] for k in ("DATABASE_URL", "DEBUG", "SECRET_KEY", "PORTICO_BASE_URL",
                                                    "STATIC_ROOT", "CELERY_TASK_DEFAULT_QUEUE", "LOG_LEVEL")})
        os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("portal_setup", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self._tenants_create()
        from django.db import connections

        connections.close_all()
        # A file, not a pipe: nobody reads a pipe during the run, and a full one blocks every worker.
        self.log = tempfile.TemporaryFile(prefix="portico-bench-gunicorn-")
        self.proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "portal.wsgi", "-c", "gunicorn.conf.py"],
                                     cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _, _, _ = request("GET", self.tenants[0]["host"], self.port, "/static/portico/favicon.svg")
                if status == 200:
                    return self
            except OSError:
                time.sleep(0.2)
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_tail()}")
        raise RuntimeError("gunicorn did not answer within 60 s")

    def log_tail(self, size: int = 3000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def _tenants_create(self) -> None:
        from django_tenants.utils import schema_context

        from bench.testidp import TestIdP
        from provisioning.services import member_add
        from sso.services import idp_configure_from_metadata
        from tenants.services import tenant_create

        for index in range(self.tenant_count):
            slug = f"bench-{self.run_id}-{index:02d}"
            host = f"{slug}.localhost"
            domain = f"{slug}.example"
            tenant = tenant_create(slug=slug, name=f"Bench {index}", hosts=[host], email_domains=[domain],
                                   actor="bench")
            idp = TestIdP(f"http://idp-{slug}.bench.invalid")
            idp_configure_from_metadata(tenant=tenant, document=idp.metadata_xml(), actor="bench",
                                        allow_idp_initiated=True)
            self.tenants.append({"slug": slug, "host": host, "domain": domain, "idp": idp, "tenant": tenant})
            with schema_context(tenant.schema_name):
                for n in range(RETURNING_USERS):
                    member_add(tenant=tenant, email=f"member{n}@{domain}", access_level="client-administrator",
                               actor="bench")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        from django.db import connections

        connections.close_all()
        shutil.rmtree(self.static_root, ignore_errors=True)
        try:
            self._sql(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        except Exception as error:  # a leftover database only costs disk; say so
            print(f"could not drop {self.db_name}: {error}", file=sys.stderr)


RETURNING_USERS = 20


# --- a minimal browser over http.client (cheap, so the generator is not the bottleneck) ----------

def request(method: str, host: str, port: int, path: str, *, body: dict | None = None,
            cookies: dict | None = None, conn: http.client.HTTPConnection | None = None,
            ) -> tuple[int, dict[str, str], dict[str, str], bytes]:
    """One request: its status, headers (lower-case names), the cookies it set, and its body."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Host": f"{host}:{port}"}
    data = None
    if body is not None:
        data = urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    headers_got: dict[str, str] = {}
    cookies_got: dict[str, str] = {}
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            key, _, rest = value.partition("=")
            cookies_got[key.strip()] = rest.split(";", 1)[0]
        else:
            headers_got[name.lower()] = value
    if own:
        conn.close()
    return response.status, headers_got, cookies_got, payload


BOUNCE_FIELD = re.compile(rb'name="(SAMLResponse|RelayState|portico_bounce)" value="([^"]*)"')


@dataclass
class SignIn:
    scenario: str
    tenant: dict
    email: str
    b64: str
    xml: str
    relay_state: str = "/"
    cookies: dict = field(default_factory=dict)  # the browser's cookies before the IdP posts
    request_id: str | None = None
    outcome: str = ""
    session: str = ""
    seconds: float = 0.0


def sign_in(item: SignIn, port: int, conn: http.client.HTTPConnection) -> None:
    """The IdP's cross-site POST (no cookies), then the bounce page's same-site POST (cookies)."""
    host = item.tenant["host"]
    start = time.perf_counter()
    status, _, _, page = request("POST", host, port, "/sso/acs/", conn=conn,
                              body={"SAMLResponse": item.b64, "RelayState": item.relay_state})
    if status != 200:
        item.outcome = f"bounce {status}"
        return
    fields = {name.decode(): html.unescape(value.decode())
              for name, value in BOUNCE_FIELD.findall(page)}
    if fields.get("portico_bounce") != "1":
        item.outcome = "no bounce form"
        return
    status, _, set_cookies, _ = request("POST", host, port, "/sso/acs/", body=fields, cookies=item.cookies, conn=conn)
    item.seconds = time.perf_counter() - start
    item.session = set_cookies.get("sessionid", "")
    item.outcome = "ok" if status == 302 and item.session else f"acs {status}"


def run_concurrently(items: list, work: Callable, clients: int, port: int) -> float:
    """Each client a thread with its own keep-alive connection; returns wall seconds."""
    lock = threading.Lock()
    queue = list(reversed(items))

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        while True:
            with lock:
                if not queue:
                    break
                item = queue.pop()
            try:
                work(item, port, conn)
            except (OSError, http.client.HTTPException) as error:
                item.outcome = f"error {type(error).__name__}"
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return time.perf_counter() - start


# --- minting ------------------------------------------------------------------------------------

SCENARIOS = [(kind, flow, signing) for kind in ("jit", "returning") for flow in ("idp", "sp")
             for signing in ("assertion", "both")]


def mint(stack: Stack, count: int) -> list[SignIn]:
    from sso.sp import sp_endpoints

    items: list[SignIn] = []
    serial = 0
    for kind, flow, signing in SCENARIOS:
        for n in range(count):
            tenant = stack.tenants[n % len(stack.tenants)]
            serial += 1
            email = (f"member{serial % RETURNING_USERS}@{tenant['domain']}" if kind == "returning"
                     else f"new-{stack.run_id}-{serial}@{tenant['domain']}")
            endpoints = sp_endpoints(host=tenant["host"])
            cookies: dict = {}
            request_id = None
            if flow == "sp":
                status, headers, set_cookies, _ = request("GET", tenant["host"], stack.port, "/sso/login/?next=/")
                location = headers.get("location", "")
                if status != 302 or "SAMLRequest" not in location:
                    raise RuntimeError(f"/sso/login/ answered {status}")
                params = parse_qs(urlsplit(location).query)
                request_id = tenant["idp"].parse_authn_request(params["SAMLRequest"][0], None).id
                cookies = set_cookies
            xml = tenant["idp"].build_response(acs_url=endpoints.acs_url, audience=endpoints.entity_id, email=email,
                                               in_response_to=request_id, sign_assertion=True,
                                               sign_response=signing == "both")
            items.append(SignIn(scenario=f"{kind}/{flow}/{signing}", tenant=tenant, email=email, xml=xml,
                                b64=base64.b64encode(xml.encode()).decode(), cookies=cookies,
                                request_id=request_id))
    return items


# --- in-process figures on the same responses ---------------------------------------------------

def in_process_rates(stack: Stack, items: list[SignIn], sample: int) -> dict[str, float]:
    import logging

    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client

    from sso.conf import saml_config_for
    from sso.saml_guard import verify_saml_response
    from sso.selectors import idp_for_tenant
    from sso.sp import sp_endpoints

    logging.getLogger("saml2").setLevel(logging.CRITICAL)
    chosen = items[:: max(1, len(items) // sample)][:sample]
    prepared = []
    for item in chosen:
        idp_row = idp_for_tenant(tenant=item.tenant["tenant"])
        if idp_row is None:
            raise RuntimeError(f"{item.tenant['host']} has no IdP configured; run the bench's set-up again.")
        endpoints = sp_endpoints(host=item.tenant["host"])
        prepared.append((item, endpoints, saml_config_for(idp=idp_row, endpoints=endpoints)))
    start = time.perf_counter()
    for item, _, conf in prepared:
        outstanding = {item.request_id: "/"} if item.request_id else {}
        Saml2Client(conf).parse_authn_request_response(item.b64, BINDING_HTTP_POST, outstanding)
    pysaml2 = len(prepared) / (time.perf_counter() - start)
    start = time.perf_counter()
    for item, endpoints, _ in prepared:
        verify_saml_response(saml_response=item.b64, idp_entity_id=item.tenant["idp"].entity_id,
                             idp_certificates=[item.tenant["idp"].keypair.cert_pem],
                             sp_entity_id=endpoints.entity_id, acs_url=endpoints.acs_url,
                             clock_skew=timedelta(minutes=2))
    guard = len(prepared) / (time.perf_counter() - start)
    return {"pysaml2_per_s": pysaml2, "guard_per_s": guard}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signins", type=int, default=60, help="sign-ins per scenario (8 scenarios)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tenants", type=int, default=2)
    opts = parser.parse_args(argv)
    opts.signins = max(1, min(opts.signins, 5000))
    with Stack(workers=opts.workers, threads=opts.threads, tenants=opts.tenants) as stack:
        load_before = os.getloadavg()[0]
        items = mint(stack, opts.signins)
        # Warm every worker (config caches, connections) with sign-ins that are not counted.
        warm = mint(stack, 2)
        run_concurrently(warm, sign_in, opts.clients, stack.port)
        wall = run_concurrently(items, sign_in, opts.clients, stack.port)
        # Every session cookie must answer /api/me as that user (untimed).
        lost = 0
        for item in items:
            if item.outcome == "ok":
                status, _, _, body = request("GET", item.tenant["host"], stack.port, "/api/me",
                                          cookies={"sessionid": item.session})
                if status != 200 or item.email.encode() not in body:
                    lost += 1
        statics = [SignIn("static", stack.tenants[0], "", "", "") for _ in range(len(items) * 2)]

        def fetch_static(item: SignIn, port: int, conn: http.client.HTTPConnection) -> None:
            status, _, _, _ = request("GET", item.tenant["host"], port, "/static/portico/favicon.svg", conn=conn)
            item.outcome = "ok" if status == 200 else f"static {status}"

        static_wall = run_concurrently(statics, fetch_static, opts.clients, stack.port)
        # The cheapest Django answer on a tenant host, through every middleware (routing, sessions,
        # status gate, rate limits, headers) and the URL resolver: what any request costs at least.
        trivials = [SignIn("trivial", stack.tenants[0], "", "", "") for _ in range(len(items) * 2)]

        def fetch_trivial(item: SignIn, port: int, conn: http.client.HTTPConnection) -> None:
            status, _, _, _ = request("GET", item.tenant["host"], port, "/api/me", conn=conn)
            item.outcome = "ok" if status in (401, 403) else f"trivial {status}"

        trivial_wall = run_concurrently(trivials, fetch_trivial, opts.clients, stack.port)
        rates = in_process_rates(stack, items, sample=min(40, len(items)))
        load_after = os.getloadavg()[0]

    errors = [i for i in items if i.outcome != "ok"]
    ok = [i.seconds for i in items if i.outcome == "ok"]
    rate = len(items) / wall
    print(f"ACS over HTTP: gunicorn {opts.workers} worker(s) x {opts.threads} thread(s), {opts.clients} clients, "
          f"{opts.tenants} tenants; load average {load_before:.2f} before, {load_after:.2f} after\n")
    print(f"{'scenario':30}{'n':>6}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for scenario in sorted({i.scenario for i in items}):
        group = [i for i in items if i.scenario == scenario]
        secs = [i.seconds for i in group if i.outcome == "ok"]
        print(f"{scenario:30}{len(group):6}{sum(i.outcome != 'ok' for i in group):8}"
              f"{percentile(secs, 50) * 1e3:9.1f}{percentile(secs, 95) * 1e3:9.1f}{percentile(secs, 99) * 1e3:9.1f}")
    static_rate = len(statics) / static_wall
    print(f"\nload generator ceiling: static file {static_rate:.0f} requests/s "
          f"(a sign-in is 2 requests: {static_rate / max(rate * 2, 1e-9):.1f}x headroom)")
    trivial_rate = len(trivials) / trivial_wall
    print(f"Django floor: anonymous /api/me through every middleware {trivial_rate:.0f} requests/s "
          f"(a sign-in takes 2 requests, 3 when SP-initiated: at most about {trivial_rate / 2.5:.0f} sign-ins/s "
          f"before any SAML work)")
    print(f"stock pysaml2 parse_authn_request_response, same responses, one process: {rates['pysaml2_per_s']:.1f}/s")
    print(f"Portico's in-process verifier alone (ceiling), one process: {rates['guard_per_s']:.0f}/s")
    if errors:
        print(f"first errors: {sorted({i.outcome for i in errors})[:5]}")
    result = {"signins_per_s": rate, "p50_ms": percentile(ok, 50) * 1e3, "p95_ms": percentile(ok, 95) * 1e3,
              "p99_ms": percentile(ok, 99) * 1e3, "errors": len(errors), "lost_sessions": lost,
              "vs_pysaml2": rate / rates["pysaml2_per_s"], "static_per_s": static_rate,
              "trivial_per_s": trivial_rate, **rates}
    met = result["vs_pysaml2"] >= 10 and result["p99_ms"] < 50 and not errors and not lost
    print(f"\nSUMMARY acs: {rate:.1f} sign-ins/s, p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, "
          f"p99 {result['p99_ms']:.0f} ms, {len(errors)} errors, {lost} lost sessions; "
          f"{result['vs_pysaml2']:.1f}x stock pysaml2 ({rates['pysaml2_per_s']:.1f}/s), ceiling "
          f"{rates['guard_per_s']:.0f}/s; targets (>=10x, p99<50 ms, 0 errors) {'MET' if met else 'NOT met'}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
