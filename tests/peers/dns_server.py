"""A small authoritative DNS server of the tests' own: UDP on 127.0.0.1, a free port, records from a dict.

`running_dns(records)` serves `records` ({(name, type): [rdata text, ...]}, names without the final
dot) with dnspython's message API: an answer for a name and type it has, NOERROR with no answer for
a name it has under another type, NXDOMAIN for a name it lacks; nothing at all while `silent`.
The dict may be changed while it runs (a record removed, a TTL changed). Every question is logged
in `queries`, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Records = dict[tuple[str, str], list[str]]


@dataclass
class DnsServer:
    records: Records
    ttl_s: int = 300
    port: int = 0
    silent: bool = False
    """Take queries and answer none (a dead name server)."""
    queries: list[tuple[str, str]] = field(default_factory=list)

    @property
    def address(self) -> str:
        """What `dns_servers` takes."""
        return f"127.0.0.1:{self.port}"

    def answer(self, data: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(data)
        except Exception:  # not DNS: a server drops it
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = question.name.to_text(omit_final_dot=True).lower()
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rdtype))
            if self.silent:
                return None
            texts = self.records.get((name, rdtype))
            if texts:
                response.answer.append(
                    dns.rrset.from_text_list(
                        question.name, self.ttl_s, dns.rdataclass.IN, question.rdtype, texts
                    )
                )
            elif not any(known == name for known, _ in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is no asyncio.DatagramTransport subclass, though it acts as one.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self._server.answer(data)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def running_dns(records: Records, *, ttl_s: int = 300) -> AsyncIterator[DnsServer]:
    server = DnsServer(records, ttl_s)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Protocol(server), local_addr=("127.0.0.1", 0)
    )
    try:
        server.port = transport.get_extra_info("sockname")[1]
        yield server
    finally:
        transport.close()
