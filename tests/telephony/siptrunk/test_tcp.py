"""SIP over TCP on loopback with a carrier of the test's own (raw bytes over asyncio streams).

These run on uvloop (tests/telephony/conftest.py), as `callgate serve` does: the outbound call must
open its connection and send its INVITE, and a request on a connection the carrier opens must be
answered over that same connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup
from callgate.clock import ManualClock
from callgate.telephony.sip import SipRequest, SipResponse, Target, parse, response_for
from callgate.telephony.siptrunk import transport as transport_module
from callgate.telephony.siptrunk.transport import SipTransport

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


# --- strangers' connections: bounded in number and in time (issue 12, defect 4) ----------------

STRANGER_HOST = "127.0.0.2"  # the trunk is 127.0.0.1: this address is not trusted


async def connect_from(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(host, 0)), WAIT_S
    )


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """True once the other end closed the connection (EOF or reset), within WAIT_S."""
    try:
        return await asyncio.wait_for(reader.read(65536), WAIT_S) == b""
    except ConnectionError:
        return True


async def test_strangers_cannot_take_the_slots_the_trunks_own_connection_needs(monkeypatch):
    # 1,024 idle strangers took every slot and outbound calls failed at once (FAILED/38); with
    # the limits scaled down, eight do the same.
    monkeypatch.setattr(transport_module, "MAX_CONNECTIONS", 8)
    monkeypatch.setattr(transport_module, "MAX_STRANGER_CONNECTIONS", 4, raising=False)
    monkeypatch.setattr(transport_module, "MAX_STRANGER_CONNECTIONS_PER_HOST", 3, raising=False)
    async with carrier_server() as (port, accepted), running_trunk(port, transport="tcp") as t:
        strangers = []
        try:
            for host in ("127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3"):
                strangers.append(await connect_from(host, t.port))
            # 127.0.0.2's fourth is one too many for that host; 127.0.0.3's is the fourth slot.
            gone = [await _closed_soon(reader) for reader, _ in strangers]
            assert gone == [False, False, False, True, False]
            reader, writer = await connect_from("127.0.0.4", t.port)  # no slot left
            strangers.append((reader, writer))
            assert await closed_by_peer(reader)

            call = new_session_id()
            t.trunk.dial(call, "1000", None)  # our own connection to the trunk still opens
            carrier = await asyncio.wait_for(accepted.get(), WAIT_S)
            invite = await carrier.next()
            assert isinstance(invite, SipRequest)
            assert invite.method == "INVITE"
            carrier.send(response_for(invite, 486, to_tag="busy2"))
            assert await t.hangup(call) == TrunkHangup(call, 17, by_remote=True)

            # And the trunk's address may connect to us whatever the strangers hold.
            trunk_reader, trunk_writer = await connect_from("127.0.0.1", t.port)
            strangers.append((trunk_reader, trunk_writer))
            trunk_writer.write(options(t.port, "trusted1"))
            answer = await Carrier(trunk_reader, trunk_writer).next()
            assert isinstance(answer, SipResponse)
            assert answer.status == 200
        finally:
            for _, writer in strangers:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()


async def _closed_soon(reader: asyncio.StreamReader) -> bool:
    """True if the other end closes the connection within 0.2 s (a refusal is immediate)."""
    try:
        return await asyncio.wait_for(reader.read(65536), 0.2) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


async def test_an_idle_strangers_connection_is_closed_on_the_clock_and_a_trusted_one_is_not():
    clock = ManualClock()
    received = Inbox()
    sip = SipTransport(
        received,
        lambda key: None,
        clock=clock,
        trusted=lambda host, port: host == "127.0.0.1",
    )
    port = await sip.open("127.0.0.1", 0, tcp=True)
    opened = []
    try:
        stranger = await connect_from(STRANGER_HOST, port)
        trusted = await connect_from("127.0.0.1", port)
        opened += [stranger, trusted]
        trickler = await connect_from(STRANGER_HOST, port)
        opened.append(trickler)
        half = options(port, "never-finished")
        for step in range(30):  # a message trickled so slowly that it never completes
            trickler[1].write(half[step : step + 1])
            await trickler[1].drain()
            clock.advance(1.0)
            await asyncio.sleep(0)
        # 30 s on the clock: the stranger and the trickler have delivered no whole message.
        clock.advance(transport_module.STRANGER_IDLE_S)
        assert await closed_by_peer(stranger[0])
        assert await closed_by_peer(trickler[0])
        trusted[1].write(options(port, "still-here"))
        await received.wait_for(1)
        (data, source), *_ = received.messages
        assert source.host == "127.0.0.1"
        assert b"still-here" in data
    finally:
        for _, writer in opened:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await sip.close()


async def test_a_message_restarts_a_strangers_idle_clock():
    clock = ManualClock()
    received = Inbox()
    sip = SipTransport(
        received,
        lambda key: None,
        clock=clock,
        trusted=lambda host, port: False,
    )
    port = await sip.open("127.0.0.1", 0, tcp=True)
    reader, writer = await connect_from(STRANGER_HOST, port)
    try:
        idle_s = transport_module.STRANGER_IDLE_S
        for index in range(3):
            clock.advance(idle_s - 1.0)
            writer.write(options(port, f"ping{index}"))
            await received.wait_for(index + 1)
        assert not await _closed_soon(reader)
        clock.advance(idle_s)
        assert await closed_by_peer(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        await sip.close()


class Inbox:
    """What the transport delivered, with a bounded wait for the next."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, Target]] = []
        self._arrived = asyncio.Event()

    def __call__(self, data: bytes, source: Target) -> None:
        self.messages.append((data, source))
        self._arrived.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()


class _FakeTransport:
    """Just enough of a stream transport to drive the connection protocol by hand; what is
    written stays unsent, as with a peer that does not read."""

    def __init__(self) -> None:
        self.unsent = 0
        self.closed = False

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 5060) if name == "peername" else None

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def write(self, data: bytes) -> None:
        self.unsent += len(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        pass


def _trickle_cpu_s(stream: bytes, chunk: int) -> tuple[float, int]:
    delivered: list[bytes] = []
    owner = SipTransport(lambda data, source: delivered.append(data), lambda key: None)
    protocol = transport_module._Stream(owner)
    protocol.connection_made(_FakeTransport())  # type: ignore[arg-type]
    started = time.process_time()
    for offset in range(0, len(stream), chunk):
        protocol.data_received(stream[offset : offset + chunk])
    return time.process_time() - started, len(delivered)


def _message_of(head_bytes: int, index: int) -> bytes:
    """An OPTIONS with about `head_bytes` of header fields (8 KB each at most) and a short body."""
    padding = "".join(
        f"X-Padding-{n}: {'p' * min(8_000, head_bytes - n * 8_000)}\r\n"
        for n in range((head_bytes + 7_999) // 8_000)
    )
    head = options(5060, f"trickle{index}").replace(
        b"Content-Length: 0", f"{padding}Content-Length: 10".encode()
    )
    return head + b"v" * 10


def test_bytes_trickled_32_at_a_time_cost_time_linear_in_their_number():
    # 6.4 MB trickled 32 bytes a read cost 5.4 s of CPU: each read copied and rescanned the whole
    # buffer, quadratic in the size of a header section. Linear framing costs the same per byte
    # for 56 KB header sections as for 600-byte ones (about 1.1 MB of each).
    big = b"".join(_message_of(56_000, i) for i in range(20))
    small = b"".join(_message_of(300, i) for i in range(len(big) // 600))
    small_s, small_n = min(_trickle_cpu_s(small, 32) for _ in range(2))
    big_s, big_n = min(_trickle_cpu_s(big, 32) for _ in range(2))
    assert (big_n, small_n) == (20, len(big) // 600)
    assert big_s < 3 * small_s + 0.05, (big_s, small_s)


def test_a_peer_that_does_not_read_is_closed_before_our_answers_pile_up():
    owner = SipTransport(lambda data, source: None, lambda key: None)
    protocol = transport_module._Stream(owner)
    wire = _FakeTransport()
    protocol.connection_made(wire)  # type: ignore[arg-type]
    answer = b"x" * 1000
    writes = 0
    while not wire.closed and writes < 10_000:
        protocol.write(answer)
        writes += 1
    assert wire.closed
    assert wire.unsent <= transport_module.MAX_UNSENT_BYTES
