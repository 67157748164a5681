"""Identifiers: session ids (UUIDv7, RFC 9562, time-ordered so records sort by creation) and accounts."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

# Account names: what tokens, routes and records use to keep tenants apart.
ACCOUNT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_session_id() -> str:
    """A UUIDv7 string; ids made in the same millisecond still sort in creation order."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x01FF  # random start, room to count
        else:
            _counter += 1
            if _counter > 0x0FFF:  # 12-bit counter spent: borrow the next millisecond
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def is_session_id(text: str) -> bool:
    """True for a canonical lowercase UUID string (any version: clients may hold older ids)."""
    if len(text) != 36:
        return False
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
