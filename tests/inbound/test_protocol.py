"""The inbound wire model: every message both ways, exact JSON, every error with its close code."""

from __future__ import annotations

import dataclasses
import json

import pytest

from callgate.inbound.protocol import (
    DEFAULT_DTMF_DURATION_MS,
    DTMF_DIGITS,
    MAX_AUDIO_CHUNK_BYTES,
    MAX_CLOSE_REASON_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_TEXT_BYTES,
    Answer,
    AppClear,
    AppDtmf,
    AppHangup,
    CallerDtmf,
    CallerHangup,
    CloseCode,
    IncomingCall,
    Message,
    ProtocolError,
    UnknownEventError,
    check_audio,
    close_reason,
    decode_app_message,
    decode_gateway_message,
    encode,
)

GATEWAY_MESSAGES: list[tuple[Message, str]] = [
    (
        IncomingCall("0812345678", "02150001", "a1b2-c3"),
        '{"event":"incoming_call","callerId":"0812345678","didNumber":"02150001","sessionId":"a1b2-c3"}',
    ),
    (CallerDtmf("#"), '{"event":"dtmf","digit":"#"}'),
    (CallerHangup(), '{"event":"hangup"}'),
]
APP_MESSAGES: list[tuple[Message, str]] = [
    (Answer(), '{"event":"answer"}'),
    (AppDtmf("1", 200), '{"event":"dtmf","digit":"1","duration":200}'),
    (AppHangup(), '{"event":"hangup"}'),
    (AppHangup(after_playout=True), '{"event":"hangup","afterPlayout":true}'),
    (AppClear(), '{"event":"clear"}'),
]


@pytest.mark.parametrize(("message", "text"), GATEWAY_MESSAGES + APP_MESSAGES)
def test_encode_is_the_spec_json_exactly(message: Message, text: str) -> None:
    assert encode(message) == text


@pytest.mark.parametrize(("message", "text"), GATEWAY_MESSAGES)
def test_gateway_messages_round_trip(message: Message, text: str) -> None:
    assert decode_gateway_message(text) == message
    assert decode_gateway_message(encode(message)) == message
    assert decode_gateway_message(text.encode()) == message


@pytest.mark.parametrize(("message", "text"), APP_MESSAGES)
def test_app_messages_round_trip(message: Message, text: str) -> None:
    assert decode_app_message(text) == message
    assert decode_app_message(encode(message)) == message


@pytest.mark.parametrize("digit", sorted(DTMF_DIGITS))
def test_every_digit_both_ways(digit: str) -> None:
    assert decode_gateway_message(encode(CallerDtmf(digit))) == CallerDtmf(digit)
    assert decode_app_message(encode(AppDtmf(digit, 80))) == AppDtmf(digit, 80)


def test_the_spec_examples_decode() -> None:
    # Whitespace and field order as a JavaScript peer would send them.
    text = '{\n  "event": "incoming_call",\n  "sessionId": "s",\n  "callerId": "1", "didNumber": "2"\n}'
    assert decode_gateway_message(text) == IncomingCall("1", "2", "s")
    assert decode_app_message('{ "event": "dtmf", "digit": "1", "duration": 200 }') == AppDtmf(
        "1", 200
    )


def test_extra_fields_are_ignored_for_backward_compatible_additions() -> None:
    text = '{"event":"dtmf","digit":"5","durationMs":90,"seq":3}'
    assert decode_gateway_message(text) == CallerDtmf("5")
    assert decode_app_message(text) == AppDtmf("5", DEFAULT_DTMF_DURATION_MS)


def test_withheld_numbers_are_empty_strings() -> None:
    text = '{"event":"incoming_call","callerId":"","didNumber":"","sessionId":"x"}'
    assert decode_gateway_message(text) == IncomingCall("", "", "x")


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(None, 200), (1, 1), (1000, 1000), (250.4, 250), (99.5, 100), (1000.4, 1000)],
)
def test_dtmf_duration_default_and_rounding(duration: float | None, expected: int) -> None:
    payload: dict[str, object] = {"event": "dtmf", "digit": "9"}
    if duration is not None:
        payload["duration"] = duration
    assert decode_app_message(json.dumps(payload)) == AppDtmf("9", expected)
    payload["duration"] = None  # an explicit null is "absent" too
    assert decode_app_message(json.dumps(payload)).duration_ms == 200  # type: ignore[union-attr]


def test_messages_are_frozen_and_slotted() -> None:
    dtmf = AppDtmf("1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        dtmf.digit = "2"  # type: ignore[misc]
    assert not hasattr(dtmf, "__dict__")
    assert dtmf.duration_ms == DEFAULT_DTMF_DURATION_MS


@pytest.mark.parametrize("digit", ["", "E", "a", "11", " 1", "١", "*#"])
def test_constructing_an_invalid_digit_is_the_callers_error(digit: str) -> None:
    with pytest.raises(ValueError, match="invalid DTMF digit"):
        CallerDtmf(digit)
    with pytest.raises(ValueError, match="invalid DTMF digit"):
        AppDtmf(digit)


@pytest.mark.parametrize("duration_ms", [0, -5, 1001, 60_000])
def test_constructing_a_duration_out_of_range_is_the_callers_error(duration_ms: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.1000"):
        AppDtmf("1", duration_ms)


def test_constructing_incoming_call_needs_a_session_id() -> None:
    with pytest.raises(ValueError, match="sessionId"):
        IncomingCall("1", "2", "")


def _error(decode: object, text: str | bytes) -> ProtocolError:
    assert callable(decode)
    with pytest.raises(ProtocolError) as caught:
        decode(text)
    return caught.value


BAD_FOR_BOTH: list[tuple[str | bytes, CloseCode, str]] = [
    ("", CloseCode.INVALID_DATA, "malformed JSON"),
    ("{", CloseCode.INVALID_DATA, "malformed JSON"),
    ("{'event': 'hangup'}", CloseCode.INVALID_DATA, "malformed JSON"),
    (b"\xff\xfe\xfa", CloseCode.INVALID_DATA, "malformed JSON"),
    ("[" * 5000 + "]" * 5000, CloseCode.TOO_BIG, "exceeds"),
    ("[" * 4000 + "]" * 4000, CloseCode.INVALID_DATA, "malformed JSON"),
    ('["hangup"]', CloseCode.POLICY_VIOLATION, "list, not an object"),
    ('"hangup"', CloseCode.POLICY_VIOLATION, "str, not an object"),
    ("null", CloseCode.POLICY_VIOLATION, "NoneType, not an object"),
    ("{}", CloseCode.POLICY_VIOLATION, "no string 'event'"),
    ('{"event": 7}', CloseCode.POLICY_VIOLATION, "no string 'event'"),
    ('{"type": "hangup"}', CloseCode.POLICY_VIOLATION, "no string 'event'"),
    ('{"event":"dtmf"}', CloseCode.POLICY_VIOLATION, "'digit' is missing"),
    ('{"event":"dtmf","digit":1}', CloseCode.POLICY_VIOLATION, "'digit' must be a string"),
    ('{"event":"dtmf","digit":"E"}', CloseCode.POLICY_VIOLATION, "invalid digit 'E'"),
    ('{"event":"dtmf","digit":"a"}', CloseCode.POLICY_VIOLATION, "invalid digit 'a'"),
    ('{"event":"dtmf","digit":"12"}', CloseCode.POLICY_VIOLATION, "invalid digit '12'"),
    ('{"event":"HANGUP"}', CloseCode.POLICY_VIOLATION, "unknown event 'HANGUP'"),
    ('{"event":"' + "x" * (MAX_TEXT_BYTES + 1) + '"}', CloseCode.TOO_BIG, "exceeds 8192"),
]


@pytest.mark.parametrize(("text", "code", "words"), BAD_FOR_BOTH)
def test_bad_gateway_messages(text: str | bytes, code: CloseCode, words: str) -> None:
    error = _error(decode_gateway_message, text)
    assert error.close_code is code
    assert words in error.message
    assert "from the gateway" in error.message


@pytest.mark.parametrize(("text", "code", "words"), BAD_FOR_BOTH)
def test_bad_app_messages(text: str | bytes, code: CloseCode, words: str) -> None:
    error = _error(decode_app_message, text)
    assert error.close_code is code
    assert words in error.message
    assert "from the application" in error.message


def test_the_size_limit_counts_utf8_bytes_not_characters() -> None:
    # 3000 three-byte characters: under the limit in characters, over it in bytes.
    text = json.dumps({"event": "dtmf", "digit": "1", "note": "€" * 3000}, ensure_ascii=False)
    assert len(text) < MAX_TEXT_BYTES < len(text.encode())
    assert _error(decode_gateway_message, text).close_code is CloseCode.TOO_BIG


@pytest.mark.parametrize(
    "text",
    [
        '{"event":"incoming_call","didNumber":"2","sessionId":"s"}',
        '{"event":"incoming_call","callerId":null,"didNumber":"2","sessionId":"s"}',
        '{"event":"incoming_call","callerId":12345,"didNumber":"2","sessionId":"s"}',
        '{"event":"incoming_call","callerId":"1","sessionId":"s"}',
        '{"event":"incoming_call","callerId":"1","didNumber":"2"}',
        '{"event":"incoming_call","callerId":"1","didNumber":"2","sessionId":""}',
        '{"event":"incoming_call","callerId":"1","didNumber":"2","sessionId":["s"]}',
    ],
)
def test_bad_incoming_call(text: str) -> None:
    error = _error(decode_gateway_message, text)
    assert error.close_code is CloseCode.POLICY_VIOLATION
    assert error.message.startswith("incoming_call from the gateway: ")


@pytest.mark.parametrize(
    "duration", ["0", "0.4", "-1", "1000.5", "1001", "1e9", '"200"', "true", "[200]", "NaN"]
)
def test_bad_app_dtmf_duration(duration: str) -> None:
    error = _error(decode_app_message, '{"event":"dtmf","digit":"1","duration":' + duration + "}")
    assert error.close_code is CloseCode.POLICY_VIOLATION
    assert "duration" in error.message


def test_events_of_the_other_direction_are_unknown() -> None:
    # An app must not receive "answer"; a gateway must not receive "incoming_call".
    with pytest.raises(UnknownEventError) as from_gateway:
        decode_gateway_message('{"event":"answer"}')
    assert from_gateway.value.event == "answer"
    assert from_gateway.value.close_code is CloseCode.POLICY_VIOLATION
    incoming = encode(IncomingCall("1", "2", "3"))
    with pytest.raises(UnknownEventError, match="unknown event 'incoming_call' from the app"):
        decode_app_message(incoming)


def test_audio_checks() -> None:
    check_audio(b"", "gateway")
    check_audio(bytes(320), "gateway")
    check_audio(memoryview(bytes(MAX_AUDIO_CHUNK_BYTES)), "application")
    with pytest.raises(ProtocolError, match="not whole PCM16 samples") as odd:
        check_audio(bytes(321), "gateway")
    assert odd.value.close_code is CloseCode.INVALID_DATA
    with pytest.raises(ProtocolError, match="exceeds 65536") as big:
        check_audio(bytes(MAX_AUDIO_CHUNK_BYTES + 2), "application")
    assert big.value.close_code is CloseCode.TOO_BIG


def test_the_library_limit_covers_both_kinds_of_message() -> None:
    assert MAX_MESSAGE_BYTES >= MAX_TEXT_BYTES
    assert MAX_MESSAGE_BYTES >= MAX_AUDIO_CHUNK_BYTES


def test_close_reason_fits_a_close_frame() -> None:
    assert close_reason("hangup") == "hangup"
    long = close_reason("é" * 200)
    assert len(long.encode()) <= MAX_CLOSE_REASON_BYTES
    assert long.endswith("...")


def test_encode_refuses_what_is_not_a_message() -> None:
    with pytest.raises(TypeError):
        encode("hangup")  # type: ignore[arg-type]
