"""A small authoritative DNS server on 127.0.0.1 over real UDP, for the email domain verification tests.

Portico's resolver (tenants.domain_verification, dnspython) is pointed at it through
PORTICO_DNS_RESOLVERS, in the test process and in the Celery worker; nothing about the resolver is
mocked. Packets are parsed and built with dnspython's wire format code.
"""
from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset


class LocalDnsServer:
    """Answers TXT queries from `records` (name → TXT values); SERVFAIL for names in `failing`;
    NXDOMAIN for anything else. Thread-safe: tests add records while the worker queries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, list[str]] = {}
        self._failing: set[str] = set()
        self.queries: list[tuple[str, str]] = []  # (name, type) as received
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="local-dns", daemon=True)

    @property
    def address(self) -> str:
        """The PORTICO_DNS_RESOLVERS value that points at this server."""
        return f"{self.host}:{self.port}"

    def start(self) -> LocalDnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    @staticmethod
    def _key(name: str) -> str:
        return name.lower().rstrip(".")

    def txt_set(self, name: str, *values: str) -> None:
        with self._lock:
            self._records[self._key(name)] = list(values)

    def fail(self, name: str) -> None:
        with self._lock:
            self._failing.add(self._key(name))

    def forget(self, name: str) -> None:
        with self._lock:
            self._records.pop(self._key(name), None)
            self._failing.discard(self._key(name))

    def queried(self, name: str) -> int:
        with self._lock:
            return sum(1 for queried, _ in self.queries if queried == self._key(name))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = self._answer(data)
            except Exception:  # a packet this little server cannot parse: no answer, as a real one might
                continue
            self._sock.sendto(reply, peer)

    def _answer(self, data: bytes) -> bytes:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = self._key(question.name.to_text())
        with self._lock:
            self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
            failing = name in self._failing
            values = self._records.get(name)
        if failing:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif values is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT:
            rrset = dns.rrset.RRset(question.name, dns.rdataclass.IN, dns.rdatatype.TXT)
            for value in values:
                raw = value.encode()
                # One TXT record holds strings of at most 255 bytes: long values come split, as in real DNS.
                chunks = [raw[index:index + 255] for index in range(0, len(raw), 255)] or [b""]
                rrset.add(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks), ttl=60)
            response.answer.append(rrset)
        return response.to_wire()
