"""Proving a tenant controls an email domain: the DNS TXT record it publishes, and which domains no
tenant may claim at all.

A tenant's claim carries a random token (EmailDomain.verification_token). The tenant publishes

    _portico.<domain>.  TXT  "portico-verification=<token>"

and Portico looks it up through the resolvers named by PORTICO_DNS_RESOLVERS (the system's when
empty). A dedicated label rather than the domain itself keeps the record out of the apex, where SPF
and other TXT records live, and the lookup small. DNSSEC is not validated: Portico trusts the
resolvers it is configured with (docs/security.md).
"""
from __future__ import annotations

import functools
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from tenants.types import DomainCheck

RECORD_LABEL = "_portico"
RECORD_PREFIX = "portico-verification="
# One check waits at most this long for the resolvers, so "Verify now" answers within a page load.
LOOKUP_LIFETIME_SECONDS = 5.0
PUBLIC_EMAIL_DOMAINS_FILE = Path(__file__).with_name("public_email_domains.txt")


class DnsLookupFailed(Exception):
    """No usable answer (timeout, SERVFAIL, no resolver reachable): worth trying again later."""


def verification_record_name(domain: str) -> str:
    return f"{RECORD_LABEL}.{domain}"


def verification_record_value(token: str) -> str:
    return f"{RECORD_PREFIX}{token}"


def resolvers_parse(text: str) -> list[tuple[str, int]]:
    """PORTICO_DNS_RESOLVERS: "host:port,..." with IP addresses ("[::1]:53" for IPv6; port 53 when left out)."""
    resolvers = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        if item.startswith("["):
            host, bracket, port = item[1:].partition("]")
            port = port.removeprefix(":") if bracket else "not an address"
        elif item.count(":") == 1:
            host, port = item.split(":")
        else:
            host, port = item, ""
        try:
            ipaddress.ip_address(host)
            number = int(port) if port else 53
            if not 0 < number < 65536:
                raise ValueError(port)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"PORTICO_DNS_RESOLVERS: {item!r} is not an IP address with an optional port (e.g. 1.1.1.1:53)."
            ) from exc
        resolvers.append((host, number))
    return resolvers


def _resolver() -> dns.resolver.Resolver:
    configured = resolvers_parse(settings.PORTICO_DNS_RESOLVERS)
    if not configured:
        resolver = dns.resolver.Resolver()  # the system's (/etc/resolv.conf)
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in configured]
    resolver.lifetime = LOOKUP_LIFETIME_SECONDS
    resolver.timeout = LOOKUP_LIFETIME_SECONDS / 2
    resolver.cache = None  # a customer who just added the record must not wait for a cached "no"
    return resolver


def txt_records(name: str) -> list[str]:
    """Every TXT record at `name`, each one's strings joined (long values come split); [] when there is none."""
    try:
        # Inside the try: a worker runs no system checks, so a bad setting (portico.E005) or a missing
        # /etc/resolv.conf must end as a failed lookup, not an error in every task.
        answer = _resolver().resolve(dns.name.from_text(name), dns.rdatatype.TXT, search=False,
                                     raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.exception.DNSException, ImproperlyConfigured) as exc:
        raise DnsLookupFailed(f"{type(exc).__name__}: {exc}") from exc
    if answer.rrset is None:
        return []
    return [b"".join(rdata.strings).decode("utf-8", errors="replace") for rdata in answer.rrset]


def record_check(*, domain: str, token: str) -> DomainCheck:
    """verified, not_found or mismatch for this claim's record; DnsLookupFailed when DNS can't say."""
    records = txt_records(verification_record_name(domain))
    if verification_record_value(token) in (record.strip() for record in records):
        return DomainCheck.verified
    return DomainCheck.mismatch if records else DomainCheck.not_found


@functools.cache
def public_email_domains() -> frozenset[str]:
    lines = PUBLIC_EMAIL_DOMAINS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def domain_is_or_under(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


def public_email_domain_of(domain: str) -> str | None:
    """The listed mailbox provider `domain` is, or is under (mail.gmail.com counts as gmail.com)."""
    listed = public_email_domains()
    labels = domain.split(".")
    for index in range(len(labels) - 1):
        candidate = ".".join(labels[index:])
        if candidate in listed:
            return candidate
    return None


def portico_domains() -> list[str]:
    """Portico's own names: the base domain tenant hosts live under, and the host of its base URL."""
    names = [settings.PORTICO_BASE_DOMAIN.lower().strip(".")]
    base_url_host = (urlsplit(settings.PORTICO_BASE_URL).hostname or "").lower().strip(".")
    if base_url_host and base_url_host not in names:
        names.append(base_url_host)
    return [name for name in names if name]


def portico_domain_of(domain: str) -> str | None:
    return next((own for own in portico_domains() if domain_is_or_under(domain, own)), None)
