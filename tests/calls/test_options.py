"""The per-call option rules themselves: limits at their edges, and inbound metadata's merging."""

from __future__ import annotations

import pytest

from callgate.calls.options import (
    MAX_METADATA_BYTES,
    CallOptions,
    CallOptionsError,
    inbound_metadata,
    metadata_json,
    parse_call_options,
    parse_metadata,
    parse_sip_headers,
)
from callgate.inbound.protocol import IncomingCall, decode_gateway_message, encode


def test_nothing_asked_is_the_defaults() -> None:
    assert parse_call_options({"phoneNumber": "0811"}, ()) == CallOptions()


def test_limits_are_inclusive() -> None:
    options = parse_call_options(
        {"ringTimeoutS": 1, "maxDurationS": 86400, "callerId": "0215550101"}, {"0215550101"}
    )
    assert (options.ring_timeout_s, options.max_duration_s, options.caller_id) == (
        1.0,
        86400.0,
        "0215550101",
    )
    exactly = {"k": "x" * (MAX_METADATA_BYTES - len('{"k":""}'))}
    assert len(metadata_json(exactly).encode()) == MAX_METADATA_BYTES
    assert parse_metadata(exactly) == exactly
    # the limit is on UTF-8 bytes, not characters
    with pytest.raises(CallOptionsError, match="bytes as JSON"):
        parse_metadata({"k": "é" * (MAX_METADATA_BYTES // 2)})
    with pytest.raises(CallOptionsError, match="no NaN or Infinity"):
        parse_metadata({"k": float("nan")})
    headers = parse_sip_headers({f"X-H{i}": "v" * 256 for i in range(10)})
    assert len(headers) == 10


def test_header_values_keep_tabs_and_lose_outer_spaces() -> None:
    assert parse_sip_headers({"x-a": " a\tb "}) == (("x-a", "a\tb"),)
    for bad in ("\x00", "a\rb", "\x7f"):
        with pytest.raises(CallOptionsError, match="control character"):
            parse_sip_headers({"X-A": bad})


def test_inbound_metadata_route_first_then_headers_within_the_limit() -> None:
    assert inbound_metadata({}, ()) is None
    headers = (("X-Crm-Id", "42"), ("X-Crm-Id", "43"), ("X-Bad.Name", "1"), ("Other", "1"))
    assert inbound_metadata({"queue": "support"}, headers) == {
        "queue": "support",
        "X-Crm-Id": "42",
    }
    assert inbound_metadata({"X-Crm-Id": "route"}, headers) == {"X-Crm-Id": "route"}
    many = tuple((f"X-H{i:03d}", "v" * 100) for i in range(50))
    merged = inbound_metadata({"queue": "support"}, many)
    assert merged is not None
    assert len(metadata_json(merged).encode()) <= MAX_METADATA_BYTES
    assert 15 < len(merged) < 50  # as many as fit, in order
    assert list(merged)[1:] == [name for name, _ in many[: len(merged) - 1]]


def test_incoming_call_carries_metadata_only_when_there_is_some() -> None:
    plain = IncomingCall("0811", "021", "s1")
    assert encode(plain) == (
        '{"event":"incoming_call","callerId":"0811","didNumber":"021","sessionId":"s1"}'
    )
    tagged = IncomingCall("0811", "021", "s1", {"queue": "support"})
    assert '"metadata":{"queue":"support"}' in encode(tagged)
    assert decode_gateway_message(encode(tagged)) == tagged
    assert decode_gateway_message(encode(plain)) == plain
