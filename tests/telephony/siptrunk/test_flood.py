"""Floods against the live trunk over loopback UDP (uvloop): nothing a flood sends may cost the
trunk's own calls (issue 12, defect 2).

The trunk is 127.0.0.1 at port 5060 (its address, so trusted at any port by default); the flood
comes from another port of that address, as in the issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from callgate.calls.trunk import TrunkIncomingCall
from callgate.telephony.sip import SipResponse, parse

from .harness import running_trunk

FLOOD = 3_000
BURST = 100
WAIT_S = 5.0


def datagram_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def options(port: int, local_port: int, index: int) -> bytes:
    return (
        f"OPTIONS sip:gw@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};rport;branch=z9hG4bKflood{index}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:flood@127.0.0.1>;tag=f{index}\r\n"
        f"To: <sip:gw@127.0.0.1:{port}>\r\n"
        f"Call-ID: flood-{index}@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def invite(port: int, local_port: int) -> bytes:
    return (
        f"INVITE sip:4143@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};rport;branch=z9hG4bKtrunkcall\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:5551234@127.0.0.1>;tag=trunk1\r\n"
        f"To: <sip:4143@127.0.0.1:{port}>\r\n"
        "Call-ID: trunk-call@127.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:carrier@127.0.0.1:{local_port}>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def statuses(sock: socket.socket, count: int) -> list[int]:
    """The statuses of the next `count` responses on `sock`, within WAIT_S."""
    loop = asyncio.get_running_loop()
    got: list[int] = []
    async with asyncio.timeout(WAIT_S):
        while len(got) < count:
            data = await loop.sock_recv(sock, 65535)
            message = parse(data)
            assert isinstance(message, SipResponse)
            got.append(message.status)
    return got


async def test_an_options_flood_from_the_trunks_address_leaves_the_trunks_calls_served():
    with contextlib.ExitStack() as sockets:
        flood = sockets.enter_context(datagram_socket())
        carrier = sockets.enter_context(datagram_socket())
        async with running_trunk(5060) as t:
            t.answer_after_s = None
            flood_port = flood.getsockname()[1]
            answers: list[int] = []
            for start in range(0, FLOOD, BURST):
                for index in range(start, start + BURST):
                    flood.sendto(options(t.port, flood_port, index), ("127.0.0.1", t.port))
                answers += await statuses(flood, BURST)
            assert answers == [200] * FLOOD
            assert len(t.trunk.engine.layer) == 0  # stateless: the flood left nothing behind

            carrier_port = carrier.getsockname()[1]
            carrier.sendto(invite(t.port, carrier_port), ("127.0.0.1", t.port))
            seen = await statuses(carrier, 1)
            while 180 not in seen:  # a 100 Trying may come first
                seen += await statuses(carrier, 1)
            offered = await t.incoming()
            assert isinstance(offered, TrunkIncomingCall)
            assert offered.did_number == "4143"
