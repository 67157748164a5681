"""`DirectMessages` cutting frames out of the stream itself, on real loopback connections.

The far end is a raw TCP socket that did the opening handshake by hand. Bytes reach the connection
under test through `data_received`, called by the test with chosen chunks (exactly what the
transport does, but with boundaries the test decides: one byte at a time, mid-header, mid-mask,
frames glued together). What the connection writes back (pongs, close frames) goes out on its real
transport and is read on the raw socket.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from callgate.inbound.direct import (
    DirectClientConnection,
    DirectMessages,
    DirectServerConnection,
)

MAX_SIZE = 100_000
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(
    opcode: int,
    payload: bytes,
    *,
    masked: bool,
    fin: bool = True,
    rsv: int = 0,
) -> bytes:
    """One frame built by hand (RFC 6455 §5.2), so malformed ones can be built too."""
    size = len(payload)
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if masked else 0
    if size < 126:
        header = struct.pack("!BB", first, mask_bit | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def chunks(data: bytes, sizes: Iterator[int]) -> Iterator[bytes]:
    at = 0
    while at < len(data):
        n = next(sizes)
        yield data[at : at + n]
        at += n


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(opcode, payload) of the next unmasked frame the connection under test sent."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(length)


@dataclass
class ServerEnd:
    """A `DirectServerConnection` (the app side) and the raw client socket facing it."""

    conn: DirectServerConnection
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    messages: list[tuple[bytes, bool]] = field(default_factory=list)

    def feed(self, data: bytes, sizes: Iterator[int] | None = None) -> None:
        for piece in chunks(data, sizes or iter(lambda: len(data), None)):
            self.conn.data_received(piece)

    async def close_code(self) -> int:
        opcode, payload = await read_frame(self.reader)
        assert opcode == Opcode.CLOSE.value
        return int(struct.unpack("!H", payload[:2])[0])


@asynccontextmanager
async def server_end(max_size: int = MAX_SIZE) -> AsyncIterator[ServerEnd]:
    async with asyncio.timeout(30):
        accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

        async def handler(ws: ServerConnection) -> None:
            await accepted.put(ws)
            await ws.wait_closed()

        async with serve(
            handler,
            "127.0.0.1",
            0,
            max_size=max_size,
            compression=None,
            create_connection=DirectServerConnection,
        ) as server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            response = await reader.readuntil(b"\r\n\r\n")
            accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())
            assert response.startswith(b"HTTP/1.1 101")
            assert accept in response
            conn = await accepted.get()
            assert isinstance(conn, DirectServerConnection)
            end = ServerEnd(conn, reader, writer)
            conn.on_message = lambda data, text: end.messages.append((data, text))
            try:
                yield end
            finally:
                writer.close()


def mixed_messages(rng: random.Random) -> list[tuple[bytes, bool]]:
    sizes = [0, 1, 125, 126, 320, 321, 65535, 65536, 70001]
    out = [(rng.randbytes(n), False) for n in sizes]
    out += [(("é" * n).encode(), True) for n in (0, 1, 150)]
    out += [(rng.randbytes(320), False) for _ in range(50)]
    rng.shuffle(out)
    return out


@pytest.mark.parametrize(
    "pattern", ["whole", "one byte at a time", "random cuts", "glued then cut at 2-9 bytes"]
)
async def test_frames_cut_anywhere_arrive_whole_in_order_on_the_direct_path(pattern: str) -> None:
    rng = random.Random(pattern)
    sent = mixed_messages(rng)
    stream = b"".join(
        frame(Opcode.TEXT.value if text else Opcode.BINARY.value, data, masked=True)
        for data, text in sent
    )
    sizes: Iterator[int] | None = {
        "whole": None,
        "one byte at a time": iter(lambda: 1, None),
        "random cuts": iter(lambda: rng.randint(1, 700), None),
        "glued then cut at 2-9 bytes": iter(lambda: rng.randint(2, 9), None),
    }[pattern]
    async with server_end() as end:
        end.feed(stream, sizes)
        assert end.messages == sent
        assert end.conn.frames_cut == len(sent)  # none went through the library's parser
        assert end.conn.protocol.state is State.OPEN


async def test_control_frames_and_fragments_go_to_the_library_and_the_stream_comes_back() -> None:
    async with server_end() as end:
        end.feed(frame(2, b"A" * 320, masked=True) + frame(Opcode.PING.value, b"hi", masked=True))
        assert await read_frame(end.reader) == (Opcode.PONG.value, b"hi")  # the library answered
        # A fragmented text message, then whole frames: the library reassembles the first (in
        # this class's process_event) and this class takes the stream back for the rest.
        end.feed(
            frame(1, b"frag", masked=True, fin=False) + frame(0, b"ment", masked=True, fin=False)
        )
        end.feed(frame(0, b"ed", masked=True) + frame(2, b"B" * 320, masked=True))
        end.feed(frame(2, b"C" * 10, masked=True), iter(lambda: 3, None))
        assert end.messages == [
            (b"A" * 320, False),
            (b"fragmented", True),
            (b"B" * 320, False),
            (b"C" * 10, False),
        ]
        # A: cut here; ping and the fragments: the library's; B came in the library's chunk;
        # C: cut here again, in 3-byte pieces.
        assert end.conn.frames_cut == 2
        assert end.conn.protocol.state is State.OPEN


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (frame(2, b"x" * 10, masked=False), 1002),  # a client must mask
        (frame(2, b"x" * 10, masked=True, rsv=0x40), 1002),  # no extension was agreed
        (frame(3, b"x" * 10, masked=True), 1002),  # reserved opcode
        (frame(0, b"x" * 10, masked=True), 1002),  # continuation with nothing to continue
        (frame(2, b"x" * (MAX_SIZE + 1), masked=True)[:14], 1009),  # header alone is enough
    ],
    ids=["unmasked", "reserved bit", "reserved opcode", "stray continuation", "too big"],
)
async def test_bad_frames_after_good_ones_close_with_the_library_s_code(
    bad: bytes, code: int
) -> None:
    async with server_end() as end:
        end.feed(frame(2, b"ok", masked=True) + bad + frame(2, b"never", masked=True))
        assert await end.close_code() == code
        assert end.messages == [(b"ok", False)]  # what came after the bad frame is not delivered


async def test_a_bad_header_fails_on_its_first_two_bytes_as_the_library_does() -> None:
    # Unmasked, with a 64-bit length still to come: no need to wait for more to know it is wrong.
    async with server_end() as end:
        end.feed(b"\x82\x7f")
        assert await end.close_code() == 1002


async def test_a_size_limit_of_zero_refuses_any_payload() -> None:
    async with server_end(max_size=0) as end:
        end.feed(frame(2, b"", masked=True) + frame(2, b"hello", masked=True))
        assert await end.close_code() == 1009
        assert end.messages == [(b"", False)]


async def test_the_end_of_the_stream_inside_a_frame_is_reported_as_such() -> None:
    async with server_end() as end:
        whole = frame(2, b"x" * 320, masked=True)
        end.feed(whole[:100])
        end.writer.write_eof()
        await end.conn.wait_closed()
        assert end.conn.close_code == 1006
        assert "stream ends after" in str(end.conn.protocol.parser_exc)  # not "unexpected end"
        assert end.messages == []


async def test_a_close_frame_is_answered_and_nothing_after_it_is_delivered() -> None:
    async with server_end() as end:
        close = frame(Opcode.CLOSE.value, struct.pack("!H", 1000) + b"bye", masked=True)
        end.feed(frame(2, b"last", masked=True) + close + frame(2, b"late", masked=True))
        assert await end.close_code() == 1000
        assert await end.reader.read() == b""  # the server closed TCP after its close frame
        end.writer.close()
        await end.conn.wait_closed()
        assert end.messages == [(b"last", False)]
        assert end.conn.close_code == 1000


async def test_messages_before_on_message_is_set_keep_their_order() -> None:
    async with server_end() as end:
        conn, handler = end.conn, end.conn.on_message
        conn.on_message = None
        end.feed(frame(2, b"1", masked=True) + frame(2, b"2", masked=True))  # queued by the library
        conn.on_message = handler
        end.feed(frame(2, b"3", masked=True))  # behind queued ones: the library's path too
        assert end.messages == []
        assert [await conn.recv(), await conn.recv(), await conn.recv()] == [b"1", b"2", b"3"]
        end.feed(frame(2, b"4", masked=True))  # the queue is empty: the direct path again
        assert end.messages == [(b"4", False)]
        assert conn.frames_cut == 1


async def test_the_client_side_cuts_unmasked_frames_and_refuses_masked_ones() -> None:
    async with asyncio.timeout(30):

        async def handler(ws: ServerConnection) -> None:
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(
                f"ws://127.0.0.1:{port}",
                compression=None,
                max_size=MAX_SIZE,
                create_connection=DirectClientConnection,
            ) as conn:
                assert isinstance(conn, DirectMessages)
                got: list[tuple[bytes, bool]] = []
                conn.on_message = lambda data, text: got.append((data, text))
                payloads = [os.urandom(n) for n in (320, 0, 126, 65536)]
                stream = b"".join(frame(2, p, masked=False) for p in payloads)
                for piece in chunks(stream, iter(lambda: 5, None)):
                    conn.data_received(piece)
                assert got == [(p, False) for p in payloads]
                assert conn.frames_cut == 4
                conn.data_received(frame(2, b"masked", masked=True))
                await conn.wait_closed()
                # The side that fails the connection sends 1002 and reads nothing more.
                assert conn.protocol.close_sent is not None
                assert conn.protocol.close_sent.code == 1002
                assert len(got) == 4


def test_frames_built_here_are_what_websockets_builds() -> None:
    # The test's own frame builder against the library's serializer (unmasked, so comparable).
    for size in (0, 125, 126, 65535, 65536):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        ours = frame(2, payload, masked=False)
        theirs = Frame(Opcode.BINARY, payload).serialize(mask=False, extensions=[])
        assert ours == theirs
