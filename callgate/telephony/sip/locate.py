"""Locating SIP servers (RFC 3263 §4) and ordering SRV targets (RFC 2782), sans-I/O.

`Locator` plans the DNS lookups for one host and turns their answers into the ordered list of
`Target`s a request tries, one after another (§4.3: the next one after a timeout, a transport
error or a 503, see `fails_over`). The I/O shell asks `next_query()`, performs it, gives the
answer back with `feed()`, and once `next_query()` returns None reads `result()`:

- a numeric IP is the target itself (the given port, or 5060 / 5061 for TLS; UDP unless pinned);
- an explicit port skips NAPTR and SRV: the host's A (or AAAA) records at that port (§4.2);
- a pinned transport (the trunk's `transport`, like a URI's `transport=` parameter) skips NAPTR:
  SRV `_sip._udp`, `_sip._tcp` or `_sips._tcp` (TLS), then the address of each SRV target;
- otherwise NAPTR picks the transport (§4.1: services SIP+D2U, SIP+D2T, SIPS+D2T among those we
  can use, by order then preference), its replacement naming the SRV records. Without NAPTR
  records, SRV for each usable transport in our order of preference;
- no SRV records at all: the host's own addresses at the default port (§4.2).

No socket and no clock here: time comes in as `now` (`TargetCache`), chance as `random` (the
weighted SRV choice), so tests are deterministic.
"""

from __future__ import annotations

import ipaddress
import random as _random
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from .transactions.events import Target

__all__ = [
    "MAX_CACHE_S",
    "Answer",
    "LocateError",
    "Located",
    "Locator",
    "Naptr",
    "Query",
    "Srv",
    "TargetCache",
    "choose_naptr",
    "default_port",
    "fails_over",
    "order_srv",
    "srv_name",
]

RecordType = Literal["NAPTR", "SRV", "A", "AAAA"]
Random = Callable[[], float]
"""A number in [0, 1), as `random.random` gives."""

MAX_CACHE_S = 3600.0
"""The longest a resolution is kept, whatever TTL the zone gives."""

# RFC 3263 §4.1: NAPTR service field -> transport, and the SRV prefix of each transport.
_SERVICES = {"SIP+D2U": "UDP", "SIP+D2T": "TCP", "SIPS+D2T": "TLS"}
_SRV_PREFIX = {"UDP": "_sip._udp", "TCP": "_sip._tcp", "TLS": "_sips._tcp"}


@dataclass(frozen=True, slots=True)
class Naptr:
    """One NAPTR record (RFC 3403), the fields RFC 3263 reads."""

    order: int
    preference: int
    flags: str
    service: str
    replacement: str


@dataclass(frozen=True, slots=True)
class Srv:
    """One SRV record (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str


Record = Naptr | Srv | str
"""A NAPTR, an SRV, or an A/AAAA record's address."""


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    rdtype: RecordType


@dataclass(frozen=True, slots=True)
class Answer:
    """What a lookup found: its records (none for NXDOMAIN, no data or a failure), the TTL they
    may be kept for, and when none were found, why (for the error a caller sees)."""

    records: tuple[Record, ...] = ()
    ttl_s: float = MAX_CACHE_S
    error: str | None = None


class LocateError(Exception):
    """The host gives no target: the message says which lookups found nothing, and why."""


@dataclass(frozen=True, slots=True)
class Located:
    """Where to send, in the order to try, and for how long this holds (the smallest TTL met)."""

    targets: tuple[Target, ...]
    ttl_s: float
    servers: tuple[tuple[Srv, tuple[Target, ...]], ...] = ()
    """The SRV records (with their addresses) the targets came from, if any."""

    def drawn(self, random: Random) -> tuple[Target, ...]:
        """The targets in an order drawn afresh by the SRV weights: one draw for each request,
        so a cached answer still shares the requests out as the weights say (RFC 2782)."""
        if not self.servers:
            return self.targets
        addresses = dict(self.servers)
        order = order_srv(addresses, random)
        return tuple(dict.fromkeys(t for record in order for t in addresses[record]))


def default_port(transport: str) -> int:
    return 5061 if transport.upper() == "TLS" else 5060


def srv_name(transport: str, host: str) -> str:
    return f"{_SRV_PREFIX[transport.upper()]}.{host.rstrip('.')}"


def fails_over(status: int | None) -> bool:
    """RFC 3263 §4.3: a request that timed out or failed to send (`status` None) or got a 503
    goes to the next target; any other response is the answer."""
    return status is None or status == 503


def choose_naptr(records: Iterable[Record], transports: Sequence[str]) -> list[tuple[str, str]]:
    """(SRV name, transport) of the NAPTR records we can follow, lowest order then preference
    first (RFC 3263 §4.1): flag "s", a service of ours for one of `transports`."""
    usable = [
        r
        for r in records
        if isinstance(r, Naptr)
        and r.flags.lower() == "s"
        and _SERVICES.get(r.service.upper()) in transports
        and r.replacement not in ("", ".")
    ]
    usable.sort(key=lambda r: (r.order, r.preference))
    return list(
        dict.fromkeys((r.replacement.rstrip("."), _SERVICES[r.service.upper()]) for r in usable)
    )


def order_srv(records: Iterable[Srv], random: Random = _random.random) -> list[Srv]:
    """RFC 2782's order: priority ascending; within one priority, a weighted random draw (a record
    of weight 0 is drawn only when the others' weights leave it the chance)."""
    by_priority: dict[int, list[Srv]] = {}
    for record in records:
        if record.target not in ("", "."):
            by_priority.setdefault(record.priority, []).append(record)
    ordered: list[Srv] = []
    for priority in sorted(by_priority):
        # Weight 0 first, as the RFC lays them out, so the running sums give them their chance.
        pool = sorted(by_priority[priority], key=lambda r: r.weight != 0)
        while pool:
            total = sum(r.weight for r in pool)
            pick = min(int(random() * (total + 1)), total)  # an integer in 0..total, inclusive
            running = 0
            for record in pool:
                running += record.weight
                if running >= pick:
                    break
            ordered.append(record)
            pool.remove(record)
    return ordered


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


Plan = Generator[Query, Answer, list[Target]]


class Locator:
    """The lookups for one host, one at a time (see the module docstring)."""

    def __init__(
        self,
        host: str,
        *,
        port: int | None = None,
        transport: str | None = None,
        transports: Sequence[str] = ("UDP", "TCP"),
        families: Sequence[RecordType] = ("A",),
        random: Random = _random.random,
    ) -> None:
        """`transport`: pinned, or None to let NAPTR choose among `transports` (ours, by
        preference). `families`: the address records our sockets can use, in order."""
        self.host = host.strip("[]").rstrip(".")
        self._port = port
        self._pinned = None if transport is None else transport.upper()
        self._transports = tuple(t.upper() for t in transports)
        self._families = tuple(families)
        self._random = random
        self._ttl_s = MAX_CACHE_S
        self._misses: list[str] = []
        self._targets: list[Target] | None = None
        self._servers: list[tuple[Srv, tuple[Target, ...]]] = []
        self._plan = self._run()
        self._pending: Query | None = self._step(None)

    def next_query(self) -> Query | None:
        """The lookup to make now, or None when the plan is done."""
        return self._pending

    def feed(self, answer: Answer) -> None:
        """The answer to `next_query()`."""
        if self._pending is None:
            raise RuntimeError("no query is pending")
        if answer.records:
            self._ttl_s = min(self._ttl_s, max(0.0, answer.ttl_s))
        else:
            why = answer.error or "no records"
            self._misses.append(f"{self._pending.rdtype} {self._pending.name}: {why}")
        self._pending = self._step(answer)

    def result(self) -> Located:
        """The targets in order; LocateError when there are none."""
        if self._pending is not None:
            raise RuntimeError("lookups are still pending")
        if not self._targets:
            tried = "; ".join(self._misses) or "nothing to look up"
            raise LocateError(f"{self.host} does not resolve ({tried})")
        return Located(tuple(self._targets), self._ttl_s, tuple(self._servers))

    def _step(self, answer: Answer | None) -> Query | None:
        try:
            return self._plan.send(answer) if answer is not None else next(self._plan)
        except StopIteration as done:
            self._targets = list(dict.fromkeys(done.value))
            return None

    def _run(self) -> Plan:
        host, port, pinned = self.host, self._port, self._pinned
        if _is_ip(host):
            transport = pinned or "UDP"
            return [Target(host, port or default_port(transport), transport)]
        if port is not None:  # §4.2: an explicit port means the host's addresses, no SRV
            return (yield from self._addresses(host, port, pinned or "UDP"))
        if pinned is not None:
            services = [(srv_name(pinned, host), pinned)]
        else:
            naptr = yield Query(host, "NAPTR")
            services = choose_naptr(naptr.records, self._transports)
            if not services:  # §4.1: no NAPTR, so SRV for each transport we support
                services = [(srv_name(t, host), t) for t in self._transports]
        for name, transport in services:
            answer = yield Query(name, "SRV")
            records = [r for r in answer.records if isinstance(r, Srv)]
            if not records:
                continue
            targets: list[Target] = []
            for record in order_srv(records, self._random):  # "." alone: no such service
                found = yield from self._addresses(record.target, record.port, transport)
                if found:
                    self._servers.append((record, tuple(found)))
                targets += found
            return targets  # SRV records exist: no fallback to the host's own addresses
        transport = pinned or "UDP"
        return (yield from self._addresses(host, default_port(transport), transport))

    def _addresses(self, host: str, port: int, transport: str) -> Plan:
        targets: list[Target] = []
        for family in self._families:
            answer = yield Query(host.rstrip("."), family)
            targets += [Target(r, port, transport) for r in answer.records if isinstance(r, str)]
        return targets


class TargetCache:
    """Resolutions by key until their TTL runs out on the clock the caller reads; bounded, the
    oldest entry evicted first."""

    def __init__(self, max_entries: int = 64) -> None:
        self._entries: OrderedDict[object, tuple[float, Located]] = OrderedDict()
        self._max_entries = max_entries

    def get(self, key: object, now: float) -> Located | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, located = entry
        if now >= expires_at:
            del self._entries[key]
            return None
        return located

    def put(self, key: object, located: Located, now: float) -> None:
        self._entries.pop(key, None)
        if len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)
        self._entries[key] = (now + min(located.ttl_s, MAX_CACHE_S), located)
