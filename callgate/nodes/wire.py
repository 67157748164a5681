"""The records nodes send each other over Redis pub/sub, sans-I/O: bytes in, records out.

One PUBLISH to a node's channel carries every record queued for it since the last one (all the
audio of one media tick, for every call, travels in one message), so Redis sees a message per
tick per node pair, not per frame. Records keep their order: a call's dtmf never overtakes the
audio before it.

    record  = length:u32 kind:u8 body           (length counts kind and body)
    audio   = "a" sid_len:u8 sid pcm             a call's 20 ms frame, owner -> joined node
    event   = "e" json {"s": sid, "e": name, "d": data}          owner -> joined node
    request = "q" json_len:u32 json blob         {"id", "from", "op", "acct", "d"} + binary
    reply   = "r" json {"id": n, "ack": {...}}
    notice  = "n" json {"a": account, "e": name, "d": data}       to every node with its clients

`blob` is the one binary field a request may carry (a Socket.IO `audio` command's audioData), so
audio is never base64'd into JSON.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_LEN = struct.Struct("!I")
MAX_RECORD_BYTES = 8 << 20


class MalformedRecord(ValueError):
    """A peer node sent bytes that are not records: a version mismatch or a bug over there."""


@dataclass(frozen=True, slots=True)
class Audio:
    session_id: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class Event:
    session_id: str
    name: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    sender: str
    op: str
    account: str
    data: dict[str, Any]
    blob: bytes | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    id: int
    ack: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notice:
    account: str
    name: str
    data: dict[str, Any]


Record = Audio | Event | Request | Reply | Notice


def _frame(kind: bytes, body: bytes) -> bytes:
    return _LEN.pack(len(body) + 1) + kind + body


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def audio(session_id: str, frame: bytes) -> bytes:
    sid = session_id.encode()
    return _LEN.pack(2 + len(sid) + len(frame)) + b"a" + bytes((len(sid),)) + sid + frame


def event(session_id: str, name: str, data: dict[str, Any]) -> bytes:
    return _frame(b"e", _json({"s": session_id, "e": name, "d": data}))


def request(req: Request) -> bytes:
    header = _json(
        {"id": req.id, "from": req.sender, "op": req.op, "acct": req.account, "d": req.data}
    )
    blob = req.blob if req.blob is not None else b""
    flag = b"\x01" if req.blob is not None else b"\x00"
    return _frame(b"q", _LEN.pack(len(header)) + header + flag + blob)


def reply(req_id: int, ack: dict[str, Any]) -> bytes:
    return _frame(b"r", _json({"id": req_id, "ack": ack}))


def notice(account: str, name: str, data: dict[str, Any]) -> bytes:
    return _frame(b"n", _json({"a": account, "e": name, "d": data}))


def parse(message: bytes) -> Iterator[Record]:
    """Every record of one published message, in order; MalformedRecord on bytes that are not."""
    view = memoryview(message)
    at = 0
    while at < len(view):
        if len(view) - at < 5:
            raise MalformedRecord("truncated record header")
        (length,) = _LEN.unpack_from(view, at)
        if not 1 <= length <= MAX_RECORD_BYTES or at + 4 + length > len(view):
            raise MalformedRecord(f"bad record length {length}")
        kind = view[at + 4]
        body = view[at + 5 : at + 4 + length]
        at += 4 + length
        try:
            yield _record(kind, body)
        except (ValueError, KeyError, TypeError, struct.error) as exc:
            raise MalformedRecord(f"record {chr(kind)!r}: {exc}") from None


def _record(kind: int, body: memoryview) -> Record:
    if kind == ord("a"):
        sid_len = body[0]
        return Audio(bytes(body[1 : 1 + sid_len]).decode(), bytes(body[1 + sid_len :]))
    if kind == ord("q"):
        (header_len,) = _LEN.unpack_from(body, 0)
        header = json.loads(bytes(body[4 : 4 + header_len]))
        has_blob = body[4 + header_len] == 1
        blob = bytes(body[5 + header_len :]) if has_blob else None
        return Request(
            int(header["id"]),
            str(header["from"]),
            str(header["op"]),
            str(header["acct"]),
            dict(header["d"]),
            blob,
        )
    value = json.loads(bytes(body))
    if kind == ord("e"):
        return Event(str(value["s"]), str(value["e"]), dict(value["d"]))
    if kind == ord("r"):
        return Reply(int(value["id"]), dict(value["ack"]))
    if kind == ord("n"):
        return Notice(str(value["a"]), str(value["e"]), dict(value["d"]))
    raise ValueError(f"unknown kind {kind}")
