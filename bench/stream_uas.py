"""A minimal SIP callee over TCP or TLS for bench/sip_tls_calls.py, in a process of its own.

Listens on 127.0.0.1 (TLS when given a certificate and key), answers every INVITE with 200 and an
SDP that names a UDP socket which reads and discards RTP, takes the ACK, and answers BYE with
200. Messages are framed and parsed by callgate's own SIP code. It prints its ports as one JSON
line, then runs until stdin closes (the bench ends it by its PID otherwise).

    python bench/stream_uas.py [--cert FILE --key FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import sys
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callgate.telephony.sip import SipRequest, response_for
from callgate.telephony.sip.framing import StreamFramer
from callgate.telephony.sip.message import parse

SDP = (
    "v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
)


class Sink(asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: object) -> None:
        pass


class Callee(asyncio.Protocol):
    def __init__(self, sdp: bytes, counts: dict[str, int]) -> None:
        self._framer = StreamFramer()
        self._sdp = sdp
        self._counts = counts
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._counts["connections"] += 1

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        for raw in self._framer.feed(data):
            message = parse(raw, stream=True)
            if not isinstance(message, SipRequest):
                continue
            self._counts[message.method] = self._counts.get(message.method, 0) + 1
            if message.method == "INVITE":
                answer = response_for(
                    message,
                    200,
                    to_tag=f"uas{self._counts['INVITE']}",
                    headers=(
                        ("Contact", "<sip:uas@127.0.0.1>"),
                        ("Content-Type", "application/sdp"),
                    ),
                    body=self._sdp,
                )
                self._transport.write(bytes(answer))
            elif message.method != "ACK":
                self._transport.write(bytes(response_for(message, 200)))


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    sink, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    media_port = sink.get_extra_info("sockname")[1]
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    counts = {"connections": 0}
    sdp = SDP.format(port=media_port).encode()
    server = await loop.create_server(lambda: Callee(sdp, counts), "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "media_port": media_port}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()  # until the bench closes our stdin
    print(json.dumps(counts), file=sys.stderr, flush=True)
    server.close()
    sink.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main(parser.parse_args()))
