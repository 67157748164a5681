"""RFC 4733 telephone-events (DTMF digits in RTP): the payload, a paced sender and a receiver.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     event     |E|R| volume    |          duration             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Theory of operation. One key press is one *event*, identified by (SSRC, RTP timestamp): every packet of
the event carries the timestamp of its first sample, while `duration` grows as the key stays down.

- Sending (§2.5.1): one packet per 20 ms tick in place of the audio packet, in the audio stream's
  SSRC and sequence numbering. The first has the marker bit; each reports the duration so far; the
  last is sent three times with the E bit (same timestamp, same duration, new sequence numbers) so
  that one lost packet does not leave the far end holding the key down. `DtmfSender` precomputes
  that schedule; the session stamps each packet with the next sequence number on its tick.
- Receiving (§2.5.2): a digit is reported on the first packet of an event the receiver has not seen,
  marker or not (the first packets may be lost). Later packets with the same key, retransmitted end
  packets included, are the same press. An event ends at its E bit, when a packet with a new
  timestamp arrives (its end packets were lost), or after `event_timeout_s` without a packet.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

from callgate.media.pcm import SAMPLE_RATE_HZ, SAMPLES_PER_FRAME

from .packet import HEADER, PLAIN_FIRST_BYTE, RtpError

DIGITS: Final = "0123456789*#ABCD"
"""Event codes 0-15 in order (RFC 4733 §3.2): the index of a digit is its event code."""
END_PACKET_COUNT: Final = 3
DEFAULT_VOLUME_DBM0: Final = 10
"""Volume is sent as a positive number meaning -dBm0; -10 dBm0 is what most gateways use."""
MAX_DURATION_SAMPLES: Final = 0xFFFF
"""The duration field is 16 bits: 8.19 s at 8 kHz. Longer events need segments (§2.5.1.3)."""
PAYLOAD_BYTES: Final = 4

_PAYLOAD: Final = struct.Struct("!BBH")
_END_BIT: Final = 0x80
_VOLUME_MASK: Final = 0x3F
_MARKER_BIT: Final = 0x80


def event_code(digit: str) -> int:
    """RFC 4733 event code of a DTMF digit; `ValueError` for anything but 0-9 * # A-D."""
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r} (expected one of {DIGITS})")
    return code


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The 4-byte telephone-event payload; `duration_samples` is in RTP timestamp units."""

    event: int
    end: bool
    volume_dbm0: int
    duration_samples: int

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 255:
            raise ValueError(f"event code {self.event} outside 0-255")
        if not 0 <= self.volume_dbm0 <= _VOLUME_MASK:
            raise ValueError(f"volume {self.volume_dbm0} outside 0-63 (-dBm0)")
        if not 0 <= self.duration_samples <= MAX_DURATION_SAMPLES:
            raise ValueError(f"duration {self.duration_samples} outside 0-65535 samples")

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> TelephoneEvent:
        """Read the first event of a payload (later blocks are RFC 2198 redundancy; we ignore them)."""
        if len(data) < PAYLOAD_BYTES:
            raise RtpError(f"telephone-event payload of {len(data)} bytes, needs {PAYLOAD_BYTES}")
        event, flags, duration = _PAYLOAD.unpack_from(data)
        return cls(event, bool(flags & _END_BIT), flags & _VOLUME_MASK, duration)

    def __bytes__(self) -> bytes:
        flags = (_END_BIT if self.end else 0) | self.volume_dbm0
        return _PAYLOAD.pack(self.event, flags, self.duration_samples)

    @property
    def digit(self) -> str | None:
        """The DTMF digit, or None for other events (flash, tones)."""
        return DIGITS[self.event] if self.event < len(DIGITS) else None


def dtmf_schedule(
    digit: str,
    duration_ms: int,
    *,
    volume_dbm0: int = DEFAULT_VOLUME_DBM0,
    samples_per_frame: int = SAMPLES_PER_FRAME,
    rate_hz: int = SAMPLE_RATE_HZ,
) -> tuple[TelephoneEvent, ...]:
    """The payloads of one press, one per tick: growing durations, then three identical end packets.

    The duration is rounded up to whole frames (a tick can only replace a whole audio frame). Packet k
    stands for frame k, so it reports (k + 1) frames; the frame that reaches the full duration is the
    first end packet.
    """
    code = event_code(digit)
    frames = max(1, -(-duration_ms * rate_hz // (1000 * samples_per_frame)))
    total_samples = frames * samples_per_frame
    if total_samples > MAX_DURATION_SAMPLES:
        # Segmentation (§2.5.1.3) is not needed for DTMF presses, which we cap at 1 s.
        raise ValueError(f"{duration_ms} ms is over the 16-bit duration field ({total_samples})")
    running = tuple(
        TelephoneEvent(code, False, volume_dbm0, (k + 1) * samples_per_frame)
        for k in range(frames - 1)
    )
    end = TelephoneEvent(code, True, volume_dbm0, total_samples)
    return (*running, *(end,) * END_PACKET_COUNT)


class DtmfSender:
    """The RTP packets of one press, handed out one per tick with the caller's sequence numbers.

    `timestamp` is the audio clock's timestamp at the tick the press starts; every packet keeps it.
    """

    __slots__ = ("_first_byte", "_index", "_payloads", "digit", "payload_type", "ssrc", "timestamp")

    def __init__(
        self,
        digit: str,
        duration_ms: int,
        *,
        payload_type: int,
        ssrc: int,
        timestamp: int,
        volume_dbm0: int = DEFAULT_VOLUME_DBM0,
        samples_per_frame: int = SAMPLES_PER_FRAME,
    ) -> None:
        self.digit = digit.upper()
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.timestamp = timestamp
        schedule = dtmf_schedule(
            digit, duration_ms, volume_dbm0=volume_dbm0, samples_per_frame=samples_per_frame
        )
        self._payloads = [bytes(event) for event in schedule]
        self._index = 0
        self._first_byte = PLAIN_FIRST_BYTE

    @property
    def done(self) -> bool:
        """True once every packet, the three end packets included, has been handed out."""
        return self._index >= len(self._payloads)

    @property
    def remaining_packets(self) -> int:
        return len(self._payloads) - self._index

    def next_packet(self, seq: int) -> bytes:
        """The packet for this tick, numbered `seq`; `IndexError` when `done`."""
        payload = self._payloads[self._index]
        second = self.payload_type | (_MARKER_BIT if self._index == 0 else 0)
        self._index += 1
        return HEADER.pack(self._first_byte, second, seq, self.timestamp, self.ssrc) + payload


class DtmfReceiver:
    """Reports each press once, at its first packet, whatever was lost, duplicated or reordered."""

    __slots__ = ("_active", "_last_packet_at", "_recent", "duplicates", "event_timeout_s", "events")

    def __init__(self, *, event_timeout_s: float = 0.5, remembered_events: int = 16) -> None:
        self.event_timeout_s = event_timeout_s
        # Keys of recent events: a late or retransmitted packet of any of them is not a new press.
        # Bounded: only a packet older than this many presses could be reported twice.
        self._recent: deque[tuple[int, int]] = deque(maxlen=remembered_events)
        self._active: tuple[int, int] | None = None
        self._last_packet_at = 0.0
        self.events = 0
        """Presses reported (digits and other events alike)."""
        self.duplicates = 0
        """Packets of an event already reported (continuations, end packets, retransmissions)."""

    def on_packet(
        self, ssrc: int, timestamp: int, payload: bytes | memoryview, now: float
    ) -> str | None:
        """Feed one telephone-event packet; returns the digit when it starts a new press.

        `RtpError` when the payload is shorter than an event.
        """
        if len(payload) < PAYLOAD_BYTES:
            raise RtpError(
                f"telephone-event payload of {len(payload)} bytes, needs {PAYLOAD_BYTES}"
            )
        key = (ssrc, timestamp)
        if key in self._recent:
            self.duplicates += 1
            if key == self._active:
                if payload[1] & _END_BIT:
                    self._active = None
                else:
                    self._last_packet_at = now
            return None
        # A new timestamp also ends the previous press, whose end packets may have been lost.
        self._recent.append(key)
        self.events += 1
        self._active = None if payload[1] & _END_BIT else key
        self._last_packet_at = now
        code = payload[0]
        return DIGITS[code] if code < len(DIGITS) else None

    def active(self, now: float) -> bool:
        """True while a press is held down: started, no end packet, and heard from recently."""
        if self._active is not None and now - self._last_packet_at >= self.event_timeout_s:
            self._active = None
        return self._active is not None
