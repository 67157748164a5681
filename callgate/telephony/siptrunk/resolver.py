"""The trunk's DNS: RFC 3263 lookups over dnspython's async resolver, kept for their TTL.

`Locator` (callgate/telephony/sip/locate.py) decides which queries to make and what their answers
mean; this module only asks the name servers (`dns_servers`, or the system's resolv.conf) and
keeps each resolution in a `TargetCache` until its smallest TTL runs out on the trunk's clock.
`cached()` never waits (what a dial or a REGISTER reads); `locate()` looks up when nothing fresh
is cached, bounded by `dns_timeout_s` in all, and raises `LocateError` with the lookups that
found nothing (NXDOMAIN, no records, no server answered, timed out); that failure is kept for
`FAILURE_HOLD_S` before the servers are asked again.
"""

from __future__ import annotations

import ipaddress
import logging
import random as _random
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.resolver
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.NAPTR import NAPTR
from dns.rdtypes.IN.SRV import SRV

from callgate.clock import Clock, within
from callgate.telephony.sip.locate import (
    Answer,
    Located,
    LocateError,
    Locator,
    Naptr,
    Query,
    Record,
    RecordType,
    Srv,
    TargetCache,
)

from .settings import SipTrunkSettings, split_optional_port

__all__ = ["TrunkResolver", "nameserver_address"]

log = logging.getLogger(__name__)

DNS_PORT = 53
FAILURE_HOLD_S = 5.0
"""After a failed resolution, the same failure is given for this long before the name servers are
asked again (negative caching, RFC 2308), so a dead server or a missing zone is not asked on every
dial and every SIP timer."""


def nameserver_address(text: str) -> tuple[str, int]:
    """`IP`, `IP:port` or `[IPv6]:port` -> (IP, port); ValueError naming the text otherwise."""
    host, port = split_optional_port("dns_servers", text.strip())
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"dns_servers: {text!r} is not an IP address[:port]") from None
    return host, DNS_PORT if port is None else port


class TrunkResolver:
    """Where requests to one host go (see the module docstring)."""

    def __init__(
        self,
        host: str,
        *,
        port: int | None,
        transport: str | None,
        transports: Sequence[str],
        families: Sequence[RecordType],
        clock: Clock,
        nameservers: Sequence[str] = (),
        timeout_s: float = 5.0,
        random: _random.Random | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self._transport = transport
        self._transports = tuple(transports)
        self._families = tuple(families)
        self._clock = clock
        self._timeout_s = timeout_s
        self._random = random or _random.Random()
        self._cache = TargetCache(max_entries=1)
        self._failure: LocateError | None = None
        self._failed_until = 0.0
        self._nameservers = tuple(nameserver_address(text) for text in nameservers)
        self._resolver: dns.asyncresolver.Resolver | None = None  # made at the first lookup

    @classmethod
    def for_hop(
        cls,
        settings: SipTrunkSettings,
        host: str,
        port: int | None,
        clock: Clock,
        *,
        tls: bool,
        random: _random.Random | None = None,
    ) -> TrunkResolver:
        """A resolver for `host[:port]` with the trunk's transport (`auto`: NAPTR's choice among
        UDP, TCP and, when `tls`, TLS) and the address family of its SIP socket."""
        pinned = None if settings.transport == "auto" else settings.transport
        transports = ("UDP", "TCP", "TLS") if tls else ("UDP", "TCP")
        families: tuple[RecordType, ...] = ("AAAA",) if ":" in settings.bind_host else ("A",)
        return cls(
            host,
            port=port,
            transport=pinned,
            transports=transports,
            families=families,
            clock=clock,
            nameservers=settings.dns_servers,
            timeout_s=settings.dns_timeout_s,
            random=random,
        )

    def cached(self) -> Located | None:
        """The resolution still within its TTL, or None."""
        return self._cache.get(self.host, self._clock.monotonic())

    def due(self) -> bool:
        """Nothing fresh is cached, and the name servers may be asked now."""
        return self.cached() is None and self._clock.monotonic() >= self._failed_until

    async def locate(self) -> Located:
        """The targets, from the cache or looked up now; LocateError when there are none (the
        last failure again, within `FAILURE_HOLD_S` of it)."""
        located = self.cached()
        if located is not None:
            return located
        if self._failure is not None and self._clock.monotonic() < self._failed_until:
            raise LocateError(str(self._failure))
        try:
            located = await self._look_up()
        except LocateError as exc:
            self._failure, self._failed_until = exc, self._clock.monotonic() + FAILURE_HOLD_S
            raise
        self._failure = None
        return located

    async def _look_up(self) -> Located:
        locator = Locator(
            self.host,
            port=self._port,
            transport=self._transport,
            transports=self._transports,
            families=self._families,
            random=self._random.random,
        )
        try:
            await within(self._clock, self._timeout_s, self._run(locator))
        except TimeoutError:
            raise LocateError(
                f"{self.host} does not resolve (no answer within {self._timeout_s:g} s)"
            ) from None
        located = locator.result()
        self._cache.put(self.host, located, self._clock.monotonic())
        log.debug("%s resolves to %s for %.0f s", self.host, located.targets, located.ttl_s)
        return located

    async def _run(self, locator: Locator) -> None:
        query = locator.next_query()
        while query is not None:
            locator.feed(await self._ask(query))
            query = locator.next_query()

    def _dns(self) -> dns.asyncresolver.Resolver:
        """dnspython's resolver, on our servers or the system's (read from resolv.conf once)."""
        if self._resolver is None:
            resolver = dns.asyncresolver.Resolver(configure=not self._nameservers)
            if self._nameservers:
                resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(host, port) for host, port in self._nameservers
                ]
            resolver.lifetime = resolver.timeout = self._timeout_s
            self._resolver = resolver
        return self._resolver

    async def _ask(self, query: Query) -> Answer:
        try:
            name = dns.name.from_text(query.name)
            answer = await self._dns().resolve(name, query.rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            return Answer(error="NXDOMAIN")
        except dns.resolver.NoAnswer:
            return Answer(error="no records")
        except dns.resolver.NoResolverConfiguration:
            return Answer(error="no name servers (none in /etc/resolv.conf: set dns_servers)")
        except dns.resolver.NoNameservers:
            return Answer(error="no server answered (SERVFAIL or refused)")
        except dns.exception.Timeout:
            return Answer(error="timed out")
        except dns.exception.DNSException as exc:  # a malformed name or answer
            return Answer(error=str(exc) or type(exc).__name__)
        rrset = answer.rrset
        if rrset is None:  # pragma: no cover - resolve() raises NoAnswer instead
            return Answer(error="no records")
        records = tuple(r for r in (_record(rdata) for rdata in rrset) if r is not None)
        return Answer(records, ttl_s=float(rrset.ttl))


def _record(rdata: object) -> Record | None:
    if isinstance(rdata, NAPTR):
        return Naptr(
            order=rdata.order,
            preference=rdata.preference,
            flags=rdata.flags.decode("ascii", "replace"),
            service=rdata.service.decode("ascii", "replace"),
            replacement=rdata.replacement.to_text(omit_final_dot=True),
        )
    if isinstance(rdata, SRV):
        return Srv(
            priority=rdata.priority,
            weight=rdata.weight,
            port=rdata.port,
            target=rdata.target.to_text(omit_final_dot=True),
        )
    if isinstance(rdata, A | AAAA):
        return str(rdata.address)
    return None
