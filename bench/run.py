"""Portico benchmarks. Each figure is compared with a baseline measured in the same run, so the
ratios mean something on a shared machine where absolute times do not.

    .venv/bin/python -m bench.run [--iterations N]

1. ACS verification: Portico's in-process verifier (sso.saml_guard, lxml + signxml) against
   pysaml2's parse_authn_request_response (what djangosaml2 runs; it spawns xmlsec1).
   The ACS service: what sso.acs.acs_process decides on per sign-in (verifier + policy, with the
   Redis replay record) against what the ACS did before it became one path (two unverified peeks,
   the verifier, then pysaml2's full check).
2. Shedding bad input: a tampered response (and one carrying a DOCTYPE, refused before parsing)
   refused by the guard, which the ACS runs first, against pysaml2 refusing the tampered one.
3. Per-tenant configuration: a cached SPConfig (sso.conf's per-process cache) against building it
   from the tenant's values on every request, each followed by constructing the client.
"""
from __future__ import annotations

import argparse
import base64
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DEBUG", "true")  # settings refuse to load without a SECRET_KEY otherwise


def measure(fn: Callable[[], object], iterations: int) -> float:
    """Median seconds per call after one warm-up call."""
    fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--iterations", type=int, default=25)
    opts = args.parse_args(argv)
    import django

    django.setup()
    logging.getLogger("saml2").setLevel(logging.CRITICAL)  # the tampered runs log every refusal
    from lxml import etree
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    from sso.acs import acs_policy_check
    from sso.conf import sp_config_dict
    from sso.models import IdentityProvider
    from sso.saml_guard import SamlRejected, verify_saml_response
    from sso.sp import sp_endpoints
    from sso.xmlsafe import hardened_parser
    from testidp.idp import TestIdP
    from tests.sso import attacks

    idp = TestIdP("http://idp.bench.invalid")
    endpoints = sp_endpoints(host="bench.localhost")
    config_dict = partial(sp_config_dict, entity_id=idp.entity_id, sso_url=idp.sso_url,
                          certificate_pems=[idp.keypair.cert_pem], allow_idp_initiated=True, endpoints=endpoints,
                          tenant_name="Bench")
    cached = SPConfig().load(config_dict())

    def fresh_response() -> tuple[str, str]:
        xml = idp.build_response(acs_url=endpoints.acs_url, audience=endpoints.entity_id, email="b@bench.example")
        return xml, base64.b64encode(xml.encode()).decode()

    _, b64 = fresh_response()
    tampered_xml = attacks.change_name_id(fresh_response()[0])
    tampered = base64.b64encode(tampered_xml.encode()).decode()
    doctype = base64.b64encode(attacks.add_doctype_xxe(fresh_response()[0]).encode()).decode()

    def guard(payload: str = b64) -> None:
        try:
            verify_saml_response(saml_response=payload, idp_entity_id=idp.entity_id,
                                 idp_certificates=[idp.keypair.cert_pem], sp_entity_id=endpoints.entity_id,
                                 acs_url=endpoints.acs_url, clock_skew=timedelta(minutes=2))
        except SamlRejected:
            pass

    def pysaml2(payload: str = b64, conf: SPConfig | None = None) -> None:
        try:
            Saml2Client(conf or cached).parse_authn_request_response(payload, BINDING_HTTP_POST, {})
        except Exception:  # the tampered case raises; its cost is the point
            pass

    # Each sign-in consumes its assertion (replay record), so every call gets a response of its own,
    # built (and signed) before the clock starts.
    row = IdentityProvider(entity_id=idp.entity_id, allow_idp_initiated=True, restrict_email_domains=True)
    acs_payloads = iter([fresh_response()[1] for _ in range(opts.iterations + 1)])
    old_payloads = iter([fresh_response()[1] for _ in range(opts.iterations + 1)])

    def verify_once(payload: str):
        return verify_saml_response(saml_response=payload, idp_entity_id=idp.entity_id,
                                    idp_certificates=[idp.keypair.cert_pem], sp_entity_id=endpoints.entity_id,
                                    acs_url=endpoints.acs_url, clock_skew=timedelta(minutes=2))

    def acs_service_now() -> None:
        verified = verify_once(next(acs_payloads))
        acs_policy_check(verified=verified, idp=row, outstanding={}, email_domains=["bench.example"])

    def acs_service_before() -> None:
        payload = next(old_payloads)
        # The old ACS's first parse (its test-flow detection), gone from Portico since.
        etree.fromstring(base64.b64decode(payload), parser=hardened_parser(keep_comments=True))
        verified = verify_once(payload)
        acs_policy_check(verified=verified, idp=row, outstanding={}, email_domains=["bench.example"])
        Saml2Client(cached).parse_authn_request_response(payload, BINDING_HTTP_POST, {})

    def uncached_config() -> None:
        Saml2Client(SPConfig().load(config_dict()))

    def cached_config() -> None:
        Saml2Client(cached)

    n = opts.iterations
    results = {
        "pysaml2_verify": measure(pysaml2, n),
        "guard_verify": measure(guard, n),
        "acs_before": measure(acs_service_before, n),
        "acs_now": measure(acs_service_now, n),
        "pysaml2_tampered": measure(lambda: pysaml2(tampered), n),
        "guard_tampered": measure(lambda: guard(tampered), n),
        "guard_doctype": measure(lambda: guard(doctype), n),
        "config_uncached": measure(uncached_config, n),
        "config_cached": measure(cached_config, n),
    }
    rows = [
        ("1. ACS verification", "pysaml2 (baseline)", results["pysaml2_verify"], "Portico guard", results["guard_verify"]),
        ("   ACS service", "before: peek+guard+pysaml2", results["acs_before"], "acs_process path", results["acs_now"]),
        ("2. Tampered input", "pysaml2 (baseline)", results["pysaml2_tampered"], "guard", results["guard_tampered"]),
        ("   DOCTYPE input", "pysaml2 on tampered (baseline)", results["pysaml2_tampered"], "guard", results["guard_doctype"]),
        ("3. Tenant config", "built per request (baseline)", results["config_uncached"], "cached", results["config_cached"]),
    ]
    print(f"Portico benchmarks: median of {n} runs each, compared within this run\n")
    print(f"{'':22}{'baseline':34}{'ms':>9}   {'candidate':22}{'ms':>9}   {'candidate/baseline':>18}")
    for title, base_name, base, cand_name, cand in rows:
        print(f"{title:22}{base_name:34}{base * 1e3:9.2f}   {cand_name:22}{cand * 1e3:9.3f}   {cand / base:18.3f}")
    print(f"\nACS service per sign-in: {results['acs_now'] * 1e3:.2f} ms now (Portico's verifier and policy only) "
          f"vs {results['acs_before'] * 1e3:.2f} ms before (peek, verifier, pysaml2): "
          f"x{results['acs_before'] / results['acs_now']:.1f} faster")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
