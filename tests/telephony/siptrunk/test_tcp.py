"""SIP over TCP on loopback with a carrier of the test's own (raw bytes over asyncio streams).

These run on uvloop (tests/telephony/conftest.py), as `callgate serve` does: the outbound call must
open its connection and send its INVITE, and a request on a connection the carrier opens must be
answered over that same connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup
from callgate.telephony.sip import SipRequest, SipResponse, parse, response_for

from .harness import running_trunk

WAIT_S = 5.0


class Carrier:
    """One TCP connection's worth of SIP, read message by message."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def next(self) -> SipRequest | SipResponse:
        """The next message (framed by its Content-Length, as the gateway always sends one)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT_S)
        found = re.search(rb"\r\n(?:Content-Length|l)[ \t]*:[ \t]*(\d+)", head, re.IGNORECASE)
        assert found is not None, head
        body = await asyncio.wait_for(self.reader.readexactly(int(found.group(1))), WAIT_S)
        return parse(head + body, stream=True)

    def send(self, message: SipRequest | SipResponse) -> None:
        self.writer.write(bytes(message))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def carrier_server() -> AsyncIterator[tuple[int, asyncio.Queue[Carrier]]]:
    """A TCP listener on 127.0.0.1; each connection the gateway opens comes out of the queue."""
    accepted: asyncio.Queue[Carrier] = asyncio.Queue()
    carriers: list[Carrier] = []

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        carrier = Carrier(reader, writer)
        carriers.append(carrier)
        accepted.put_nowait(carrier)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        for carrier in carriers:
            await carrier.close()
        server.close()
        await server.wait_closed()


def options(port: int, branch: str) -> bytes:
    return (
        f"OPTIONS sip:gw@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK{branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:carrier@127.0.0.1>;tag=c1\r\n"
        f"To: <sip:gw@127.0.0.1:{port}>\r\n"
        f"Call-ID: tcp-{branch}@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def test_an_outbound_call_over_tcp_sends_its_invite_and_takes_the_answer():
    async with carrier_server() as (port, accepted), running_trunk(port, transport="tcp") as t:
        call = new_session_id()
        t.trunk.dial(call, "1000", None)
        carrier = await asyncio.wait_for(accepted.get(), WAIT_S)
        invite = await carrier.next()
        assert isinstance(invite, SipRequest)
        assert invite.method == "INVITE"
        assert invite.top_via is not None
        assert invite.top_via.transport == "TCP"
        carrier.send(response_for(invite, 486, to_tag="busy1"))
        assert await t.hangup(call) == TrunkHangup(call, 17, by_remote=True)
        ack = await carrier.next()  # the transaction's ACK for the 486, on the same connection
        assert isinstance(ack, SipRequest)
        assert ack.method == "ACK"


async def test_a_request_on_the_carriers_own_connection_is_answered_on_it():
    async with carrier_server() as (port, _), running_trunk(port, transport="tcp") as t:
        reader, writer = await asyncio.open_connection("127.0.0.1", t.port)
        carrier = Carrier(reader, writer)
        try:
            writer.write(options(t.port, "in1"))
            answer = await carrier.next()
            assert isinstance(answer, SipResponse)
            assert answer.status == 200
            assert answer.call_id == "tcp-in1@127.0.0.1"
        finally:
            await carrier.close()
