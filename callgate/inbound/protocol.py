"""The inbound WebSocket protocol's wire model: messages, JSON encoding, validation, limits, close codes.

Sans-I/O and shared by both ends: the gateway's connector (a WebSocket client) and the application
framework (a WebSocket server). See `spec/000_5b3b28d017654f09.txt`; its headings say "Client → Server"
for what the *gateway* sends and "Server → Client" for what the *application* sends.

    gateway → app   {"event":"incoming_call","callerId","didNumber","sessionId"}   IncomingCall
                    {"event":"dtmf","digit"}                                       CallerDtmf
                    {"event":"hangup"}                                             CallerHangup
                    binary: caller audio, PCM16 LE 8 kHz mono, 320 bytes / 20 ms   AudioFrame
    app → gateway   {"event":"answer"}                                             Answer
                    {"event":"dtmf","digit","duration"}                            AppDtmf
                    {"event":"hangup"}                                             AppHangup
                    binary: audio to play, PCM16 LE 8 kHz mono, any chunk size     AudioFrame

Opt-in additions (callgate's, not the spec's; an app that never sends them sees the seed contract):
    app → gateway   {"event":"clear"}                                    AppClear
                    {"event":"hangup","afterPlayout":true}               AppHangup(after_playout=True)
                    {"event":"resume"}                                   AppResume
    gateway → app   {"event":"speech_started","atMs"}, speech_stopped, barge_in, silence   CallerHeard
`clear` drops the audio queued for playout (barge-in); `afterPlayout` hangs up once the queued audio
has been heard. A gateway that predates them ignores `clear` (unknown event) and the extra field.
`resume` plays on after barge-in's `pause`. The listening events (docs/listen.md) go only to the
apps of routes that set `listen`: the Socket.IO events' fields under snake_case event names.

Decisions where the spec is silent:
- Digits are exactly `0-9 * # A-D` (upper case) both ways. `duration` is milliseconds, 1..1000; a
  non-integral number is rounded half up to whole ms; absent or null means `DEFAULT_DTMF_DURATION_MS`.
- Unknown extra fields are ignored (the contract allows backward-compatible additions); `callerId` and
  `didNumber` may be empty strings (withheld numbers), `sessionId` may not.
- Audio messages carry whole samples (an even byte count), at most `MAX_AUDIO_CHUNK_BYTES`; an empty
  audio message carries nothing and is ignored.
- Text messages are at most `MAX_TEXT_BYTES` of UTF-8.

Close codes (RFC 6455 §7.4.1) that either end uses, and when:
- 1000 normal: the call is over (after a `hangup` either way, or when the application's handler ends).
- 1001 going away: the application server is shutting down (after sending `hangup`).
- 1007 invalid payload: text that is not JSON, audio with an odd byte count.
- 1008 policy violation: JSON that breaks the protocol (not an object, unknown or misplaced event,
  missing/invalid field, invalid digit, duration out of range), no `incoming_call` in time.
- 1009 too big: a text or audio message over its limit.
- 1011 internal error: the application's own handler failed (our fault, not the peer's).
- 1003 (unsupported data) is not used: both text and binary are legal in this protocol.
Whether a `ProtocolError` closes the connection or only drops the message is the session's decision
(`callgate.inbound.session`); the code says what to close with if it does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from callgate.media.dtmf import DIGIT_SET

# --- limits ------------------------------------------------------------------------------------

MAX_TEXT_BYTES: Final = 8 * 1024
"""Largest JSON control message either end accepts; real ones are under 200 bytes."""
MAX_AUDIO_CHUNK_BYTES: Final = 64 * 1024
"""Largest binary audio message either end accepts (about 4 s of 8 kHz PCM16)."""
MAX_MESSAGE_BYTES: Final = max(MAX_TEXT_BYTES, MAX_AUDIO_CHUNK_BYTES)
"""What to give the WebSocket library as its `max_size`: anything larger is refused with 1009."""
MAX_CLOSE_REASON_BYTES: Final = 123
"""RFC 6455 §5.5: a close frame's payload is at most 125 bytes, two of which are the code."""

DTMF_DIGITS: Final = DIGIT_SET
DEFAULT_DTMF_DURATION_MS: Final = 200
MIN_DTMF_DURATION_MS: Final = 1
MAX_DTMF_DURATION_MS: Final = 1000


class CloseCode(IntEnum):
    """The WebSocket close codes this protocol uses (see the module docstring for when)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011


class ProtocolError(Exception):
    """The peer sent something this protocol does not allow: its fault, not ours.

    `message` is for humans (logs, the close reason); `close_code` is what to close with if the
    receiver decides the error ends the connection.
    """

    def __init__(self, message: str, close_code: CloseCode) -> None:
        super().__init__(message)
        self.message = message
        self.close_code = close_code


class UnknownEventError(ProtocolError):
    """A well-formed message with an event this direction does not define (possibly a newer peer)."""

    def __init__(self, event: str, direction: str) -> None:
        super().__init__(
            f"unknown event {event!r} from the {direction}", CloseCode.POLICY_VIOLATION
        )
        self.event = event


# --- messages ----------------------------------------------------------------------------------


def _check_digit(digit: str) -> None:
    if not isinstance(digit, str) or digit not in DTMF_DIGITS:
        raise ValueError(f"invalid DTMF digit {digit!r}: expected one of 0-9 * # A-D")


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """gateway → app: a call has arrived; the first message on every connection."""

    caller_id: str
    did_number: str
    session_id: str
    # The call's metadata (its route's, the INVITE's X- headers): an added field, sent only
    # when there is some, so the spec's message is unchanged otherwise.
    metadata: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.session_id:
            raise ValueError("incoming_call needs a non-empty sessionId")


@dataclass(frozen=True, slots=True)
class CallerDtmf:
    """gateway → app: the caller pressed a key."""

    digit: str

    def __post_init__(self) -> None:
        _check_digit(self.digit)


@dataclass(frozen=True, slots=True)
class CallerHangup:
    """gateway → app: the caller hung up (or the call was lost on the telephone side)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """app → gateway: answer the call."""


@dataclass(frozen=True, slots=True)
class AppDtmf:
    """app → gateway: play a DTMF tone to the caller for `duration_ms`."""

    digit: str
    duration_ms: int = DEFAULT_DTMF_DURATION_MS

    def __post_init__(self) -> None:
        _check_digit(self.digit)
        if isinstance(self.duration_ms, bool) or not isinstance(self.duration_ms, int):
            raise TypeError(f"DTMF duration_ms must be an int, got {self.duration_ms!r}")
        if not MIN_DTMF_DURATION_MS <= self.duration_ms <= MAX_DTMF_DURATION_MS:
            raise ValueError(
                f"DTMF duration_ms must be {MIN_DTMF_DURATION_MS}..{MAX_DTMF_DURATION_MS}, "
                f"got {self.duration_ms}"
            )


@dataclass(frozen=True, slots=True)
class AppHangup:
    """app → gateway: end the call; with `after_playout` (an addition), once its queued audio has
    been heard."""

    after_playout: bool = False


@dataclass(frozen=True, slots=True)
class AppClear:
    """app → gateway (an addition): drop the audio queued for playout, now (barge-in)."""


@dataclass(frozen=True, slots=True)
class AppResume:
    """app → gateway (an addition): play on from where barge-in's `pause` stopped."""


HEARD_EVENTS: Final = {
    "speechStarted": "speech_started",
    "speechStopped": "speech_stopped",
    "bargeIn": "barge_in",
    "silence": "silence",
    "machineDetection": "machine_detection",
    "beep": "beep",
    "deadAir": "dead_air",
    "callQuality": "call_quality",
}
"""The listening events (callgate.listen): their Socket.IO name → their name here."""
_HEARD_BY_WIRE_NAME: Final = {wire: name for name, wire in HEARD_EVENTS.items()}


@dataclass(frozen=True, slots=True)
class CallerHeard:
    """gateway → app (an addition, for routes that set `listen`): what the gateway heard.
    `event` is the Socket.IO name (speechStarted...); `fields` its payload less the sessionId."""

    event: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """Audio in either direction: PCM16 little-endian, 8 kHz mono (a binary WebSocket message)."""

    pcm16: bytes


GatewayMessage = IncomingCall | CallerDtmf | CallerHangup | CallerHeard
"""JSON messages the gateway sends."""
AppMessage = Answer | AppDtmf | AppHangup | AppClear | AppResume
"""JSON messages the application sends."""
Message = GatewayMessage | AppMessage


# --- encoding ----------------------------------------------------------------------------------


def encode(message: Message) -> str:
    """The message as the compact JSON text the spec defines (exact field names)."""
    payload: dict[str, object]
    match message:
        case IncomingCall(caller_id, did_number, session_id, metadata):
            payload = {
                "event": "incoming_call",
                "callerId": caller_id,
                "didNumber": did_number,
                "sessionId": session_id,
            }
            if metadata is not None:
                payload["metadata"] = metadata
        case CallerDtmf(digit):
            payload = {"event": "dtmf", "digit": digit}
        case AppDtmf(digit, duration_ms):
            payload = {"event": "dtmf", "digit": digit, "duration": duration_ms}
        case Answer():
            payload = {"event": "answer"}
        case AppHangup(after_playout=True):
            payload = {"event": "hangup", "afterPlayout": True}
        case CallerHangup() | AppHangup():
            payload = {"event": "hangup"}
        case AppClear():
            payload = {"event": "clear"}
        case AppResume():
            payload = {"event": "resume"}
        case CallerHeard(event, fields):
            payload = {"event": HEARD_EVENTS[event], **fields}
        case _:
            raise TypeError(f"not an inbound protocol message: {message!r}")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


# --- decoding ----------------------------------------------------------------------------------


def _load_object(text: str | bytes, direction: str) -> tuple[str, dict[str, Any]]:
    """Parse one JSON control message into (event, fields), enforcing the size limit."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise ProtocolError(
            f"text message of {size} bytes from the {direction} exceeds {MAX_TEXT_BYTES}",
            CloseCode.TOO_BIG,
        )
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are both
        raise ProtocolError(
            f"malformed JSON from the {direction}: {exc}", CloseCode.INVALID_DATA
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            f"JSON message from the {direction} is a {type(obj).__name__}, not an object",
            CloseCode.POLICY_VIOLATION,
        )
    event = obj.get("event")
    if not isinstance(event, str):
        raise ProtocolError(
            f"message from the {direction} has no string 'event' field", CloseCode.POLICY_VIOLATION
        )
    return event, obj


def _string_field(obj: dict[str, Any], name: str, event: str, direction: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        what = "is missing" if value is None else f"must be a string, got {value!r}"
        raise ProtocolError(
            f"{event} from the {direction}: field {name!r} {what}", CloseCode.POLICY_VIOLATION
        )
    return value


def _digit_field(obj: dict[str, Any], direction: str) -> str:
    digit = _string_field(obj, "digit", "dtmf", direction)
    if digit not in DTMF_DIGITS:
        raise ProtocolError(
            f"dtmf from the {direction}: invalid digit {digit!r} (expected 0-9 * # A-D)",
            CloseCode.POLICY_VIOLATION,
        )
    return digit


def _duration_field(obj: dict[str, Any]) -> int:
    value = obj.get("duration")
    if value is None:
        return DEFAULT_DTMF_DURATION_MS
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(
            f"dtmf from the application: 'duration' must be a number of ms, got {value!r}",
            CloseCode.POLICY_VIOLATION,
        )
    duration_ms = math.floor(value + 0.5)  # half up, as people round, not half to even
    if not MIN_DTMF_DURATION_MS <= duration_ms <= MAX_DTMF_DURATION_MS:
        raise ProtocolError(
            f"dtmf from the application: duration {value!r} ms is outside "
            f"{MIN_DTMF_DURATION_MS}..{MAX_DTMF_DURATION_MS}",
            CloseCode.POLICY_VIOLATION,
        )
    return duration_ms


def decode_gateway_message(text: str | bytes) -> GatewayMessage:
    """Parse a JSON message the gateway sent (what the application receives)."""
    direction = "gateway"
    event, obj = _load_object(text, direction)
    if event == "incoming_call":
        caller_id = _string_field(obj, "callerId", event, direction)
        did_number = _string_field(obj, "didNumber", event, direction)
        session_id = _string_field(obj, "sessionId", event, direction)
        if not session_id:
            raise ProtocolError(
                "incoming_call from the gateway: 'sessionId' is empty", CloseCode.POLICY_VIOLATION
            )
        metadata = obj.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ProtocolError(
                "incoming_call from the gateway: 'metadata' must be an object",
                CloseCode.POLICY_VIOLATION,
            )
        return IncomingCall(caller_id, did_number, session_id, metadata)
    if event == "dtmf":
        return CallerDtmf(_digit_field(obj, direction))
    if event == "hangup":
        return CallerHangup()
    heard = _HEARD_BY_WIRE_NAME.get(event)
    if heard is not None:
        return CallerHeard(heard, {k: v for k, v in obj.items() if k != "event"})
    raise UnknownEventError(event, direction)


def decode_app_message(text: str | bytes) -> AppMessage:
    """Parse a JSON message the application sent (what the gateway receives)."""
    direction = "application"
    event, obj = _load_object(text, direction)
    if event == "answer":
        return Answer()
    if event == "dtmf":
        return AppDtmf(_digit_field(obj, direction), _duration_field(obj))
    if event == "hangup":
        after_playout = obj.get("afterPlayout", False)
        if not isinstance(after_playout, bool):
            raise ProtocolError(
                f"hangup from the application: 'afterPlayout' must be true or false, "
                f"got {after_playout!r}",
                CloseCode.POLICY_VIOLATION,
            )
        return AppHangup(after_playout)
    if event == "clear":
        return AppClear()
    if event == "resume":
        return AppResume()
    raise UnknownEventError(event, direction)


def check_audio(
    chunk: bytes | bytearray | memoryview, direction: str, *, whole_samples: bool = True
) -> None:
    """Raise `ProtocolError` unless `chunk` is a valid audio message: within the size limit, and,
    when `whole_samples`, whole PCM16 samples. The gateway's audio is always whole frames; an app's
    may be cut anywhere (the gateway carries a split sample over to the next message)."""
    size = len(chunk)
    if size > MAX_AUDIO_CHUNK_BYTES:
        raise ProtocolError(
            f"audio message of {size} bytes from the {direction} exceeds {MAX_AUDIO_CHUNK_BYTES}",
            CloseCode.TOO_BIG,
        )
    if whole_samples and size % 2:
        raise ProtocolError(
            f"audio message of {size} bytes from the {direction} is not whole PCM16 samples",
            CloseCode.INVALID_DATA,
        )


def close_reason(text: str) -> str:
    """`text` cut to fit a WebSocket close frame (at most 123 bytes of UTF-8, whole characters)."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= MAX_CLOSE_REASON_BYTES:
        return text
    return raw[: MAX_CLOSE_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."
