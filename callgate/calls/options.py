"""POST /pbx/call's per-call options (callerId, ringTimeoutS, maxDurationS, metadata, sipHeaders),
validated with messages that name the field and say what to send.

All are optional: a request without them gets the gateway's defaults, so the seed contract is
unchanged. The metadata and X- header rules are shared with inbound calls (a route's metadata, the
X- headers of an incoming INVITE), which is why they live in the call domain and not the API.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

RING_TIMEOUT_S: Final = (1, 300)
MAX_DURATION_S: Final = (1, 86_400)
MAX_METADATA_BYTES: Final = 2048  # serialized as compact UTF-8 JSON
MAX_METADATA_KEY_CHARS: Final = 64
MAX_SIP_HEADERS: Final = 10
MAX_SIP_HEADER_NAME_CHARS: Final = 64
MAX_SIP_HEADER_VALUE_CHARS: Final = 256
# A metadata key is also a filter name (`filter.metadata.<key>`): no dots, nothing to escape.
METADATA_KEY_RE: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_METADATA_KEY_CHARS}}}")
# RFC 3261 §25.1: header-name = token; ours must start with X- (extension headers only).
X_HEADER_RE: Final = re.compile(r"[Xx]-[A-Za-z0-9\-.!%*_+`'~]+")
# A header value: printable text and tabs; CR, LF and other controls could split the message.
_HEADER_VALUE_RE: Final = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")

Metadata = dict[str, Any]
SipHeaders = tuple[tuple[str, str], ...]


class CallOptionsError(ValueError):
    """An option is malformed or not allowed; the message names it and what to send."""


@dataclass(frozen=True, slots=True)
class CallOptions:
    caller_id: str | None = None
    ring_timeout_s: float | None = None  # None: the gateway's ring_timeout_s
    max_duration_s: float | None = None  # None: the gateway's max_call_duration_s
    metadata: Metadata | None = None
    sip_headers: SipHeaders = ()


def parse_call_options(body: Mapping[str, Any], caller_ids: Collection[str]) -> CallOptions:
    """The options in a POST /pbx/call body; `caller_ids`: those the account may present."""
    return CallOptions(
        caller_id=_caller_id(body["callerId"], caller_ids) if "callerId" in body else None,
        ring_timeout_s=_seconds(body, "ringTimeoutS", RING_TIMEOUT_S),
        max_duration_s=_seconds(body, "maxDurationS", MAX_DURATION_S),
        metadata=parse_metadata(body["metadata"]) if "metadata" in body else None,
        sip_headers=parse_sip_headers(body["sipHeaders"]) if "sipHeaders" in body else (),
    )


def _caller_id(raw: Any, allowed: Collection[str]) -> str:
    if not isinstance(raw, str) or not raw:
        raise CallOptionsError(
            "callerId must be a non-empty string, one of the account's caller IDs"
        )
    if raw not in allowed:
        if not allowed:
            raise CallOptionsError(
                f"callerId {raw[:40]!r} is not allowed: this account has no caller IDs configured"
                " (caller_ids in its [accounts.<name>] table); leave callerId out"
            )
        raise CallOptionsError(
            f"callerId {raw[:40]!r} is not one of this account's caller IDs: "
            + ", ".join(sorted(allowed)[:10])
        )
    return raw


def _seconds(body: Mapping[str, Any], name: str, bounds: tuple[int, int]) -> float | None:
    if name not in body:
        return None
    raw = body[name]
    low, high = bounds
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise CallOptionsError(f"{name} must be a number of seconds from {low} to {high}")
    if not low <= raw <= high:
        raise CallOptionsError(f"{name} must be from {low} to {high} seconds, got {raw}")
    return float(raw)


def metadata_json(metadata: Metadata) -> str:
    """The one serialization: what is measured against the limit and what is stored."""
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def parse_metadata(raw: Any, where: str = "metadata") -> Metadata:
    if not isinstance(raw, dict):
        raise CallOptionsError(f'{where} must be a JSON object, e.g. {{"crmId": "42"}}')
    for key in raw:
        if not METADATA_KEY_RE.fullmatch(key):
            raise CallOptionsError(
                f"{where} key {key[:40]!r}: use 1 to {MAX_METADATA_KEY_CHARS} letters, digits,"
                " '_' or '-' (keys are also filter names: filter.metadata.<key>)"
            )
    try:
        size = len(metadata_json(raw).encode())
    except ValueError:  # NaN or Infinity: JSON has no such numbers
        raise CallOptionsError(f"{where} must be valid JSON (no NaN or Infinity)") from None
    if size > MAX_METADATA_BYTES:
        raise CallOptionsError(
            f"{where} is {size} bytes as JSON; at most {MAX_METADATA_BYTES} bytes are allowed"
        )
    return dict(raw)


def parse_sip_headers(raw: Any) -> SipHeaders:
    if not isinstance(raw, dict):
        raise CallOptionsError(
            'sipHeaders must be an object of X- headers, e.g. {"X-Crm-Id": "42"}'
        )
    if len(raw) > MAX_SIP_HEADERS:
        raise CallOptionsError(f"sipHeaders: at most {MAX_SIP_HEADERS} headers, got {len(raw)}")
    headers: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in raw.items():
        if len(name) > MAX_SIP_HEADER_NAME_CHARS or not X_HEADER_RE.fullmatch(name):
            raise CallOptionsError(
                f"sipHeaders: {name[:40]!r} is not allowed: only X- headers, a name of at most"
                f" {MAX_SIP_HEADER_NAME_CHARS} token characters (letters, digits, -.!%*_+`'~)"
            )
        if name.lower() in seen:
            raise CallOptionsError(f"sipHeaders: {name!r} is given twice (names ignore case)")
        seen.add(name.lower())
        if not isinstance(value, str):
            raise CallOptionsError(f"sipHeaders: the value of {name} must be a string")
        if len(value) > MAX_SIP_HEADER_VALUE_CHARS:
            raise CallOptionsError(
                f"sipHeaders: the value of {name} is {len(value)} characters; at most"
                f" {MAX_SIP_HEADER_VALUE_CHARS}"
            )
        if not _HEADER_VALUE_RE.fullmatch(value):
            raise CallOptionsError(
                f"sipHeaders: the value of {name} contains CR, LF or another control character"
            )
        headers.append((name, value.strip()))
    return tuple(headers)


def inbound_metadata(route: Metadata, headers: SipHeaders) -> Metadata | None:
    """An inbound call's metadata: its route's (configured, so it wins a clash), then the X-
    headers of the INVITE, name (as sent) -> value, the first of a name winning, as many as fit
    in the metadata limit (the rest is left out, never refused: the caller cannot be told).
    None when there is neither."""
    metadata: Metadata = dict(route)
    size = len(metadata_json(metadata).encode())
    for name, value in headers:
        if name in metadata or not X_HEADER_RE.fullmatch(name):
            continue
        if not METADATA_KEY_RE.fullmatch(name):
            continue  # a name a filter could not name (dots, '!'...)
        entry = len(metadata_json({name: value}).encode()) - 2 + (1 if metadata else 0)
        if size + entry > MAX_METADATA_BYTES:
            break
        metadata[name] = value
        size += entry
    return metadata or None
