"""A small RTP echo of our own, the second peer for `bench/sip_calls.py --echo own`.

One UDP socket (4 MB receive buffer, as the gateway's SIP socket asks for) on uvloop sends every
datagram straight back to where it came from, so any number of calls can share it (the trunk
sends from each call's own RTP port and accepts the echo from the signalled IP). It runs in its
own process, as sipp does, until SIGTERM or SIGINT; then it prints one JSON line with what it
echoed.

    .venv/bin/python bench/rtp_echo.py --port 40000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket

import uvloop

RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024


class Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.echoed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)
            self.echoed += 1


async def main(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RECEIVE_BUFFER_BYTES)
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, echo = await loop.create_datagram_endpoint(Echo, sock=sock)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    transport.close()
    print(json.dumps({"echoed": echo.echoed}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(main(parser.parse_args().port))
