"""The RTP session of one call, sans-I/O: datagrams and ticks in, datagrams and events out.

Theory of operation. The transport owns the socket and the shared 20 ms ticker; this engine owns
everything else and never reads a clock (every entry point that depends on time takes `now`, in
seconds on a monotonic scale; a tick is one frame, not a time, so the ticks take none).

- `on_datagram(data, source, now)` for each datagram on the call's RTP port. RTCP is counted and
  ignored; malformed packets are counted and dropped; packets from a source the latching policy
  refuses are dropped. Accepted packets go to the jitter buffer (audio, or a silent filler for
  telephone-event and comfort-noise packets, which share the sequence numbering); RFC 4733 packets
  also go to the DTMF receiver, which reports a press as soon as its first packet arrives.
- `on_tick(pcm16_frame)` once per tick: one outgoing packet (the frame encoded, encoded silence
  when the application has nothing, or the RFC 4733 packet of a press in progress, which replaces
  the audio), and one frame popped from the jitter buffer for the application. A transport with
  many calls uses its two halves, `send_tick` and `play_tick`, in two passes.

Symmetric RTP (latching, RFC 4961's idea applied to a peer behind NAT): we send to the address in the
peer's SDP until a packet arrives, then to the address that packet came from, which is the only one
a NAT will let back in. Only packets from the SDP's IP (any port) are accepted unless
`latch_any_source` (for peers whose SDP holds a private address). Once latched, another source only
takes over after the latched one has been silent for `relatch_after_s` (a NAT rebinding); until then
its packets are dropped, so a second stream cannot hijack the call.

Timeouts: `timeout(now)` says the media is dead when nothing was accepted for `media_timeout_s`, or,
as a distinct reason, when nothing was ever accepted `no_media_timeout_s` after the session (or the
latest `set_remote`) started.
"""

from __future__ import annotations

import ipaddress
import random
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import Final

from callgate.media.dtmf import dtmf_tone
from callgate.media.pcm import (
    BYTES_PER_SAMPLE,
    FRAME_BYTES,
    FRAME_MS,
    SAMPLE_RATE_HZ,
    SAMPLES_PER_FRAME,
    SILENCE_FRAME,
)

from .codec import DECODERS, ENCODERS, G711_PAYLOAD_TYPES, SILENCE_PAYLOADS
from .concealment import Concealer
from .dtmf import DtmfReceiver, DtmfSender, event_code
from .events import Address, AudioIn, DtmfIn, RtpEvent, RtpTimeout, SourceLatched, TickOutput
from .jitter import JitterBuffer
from .packet import HEADER, HEADER_BYTES, PLAIN_FIRST_BYTE, RTCP_TYPES, RtpError, payload_bounds

MIN_DTMF_DURATION_MS: Final = 40
"""Shorter presses are lengthened: many gateways ignore events under 40 ms (Q.24's minimum)."""
MAX_DTMF_DURATION_MS: Final = 1000
"""The application APIs' limit; longer requests are shortened."""

_MARKER_BIT: Final = 0x80
_PT_MASK: Final = 0x7F
_TS_MASK: Final = 0xFFFFFFFF
_TS_HALF: Final = 0x80000000
_NO_EVENTS: Final[tuple[RtpEvent, ...]] = ()
_SILENCE_IN: Final = AudioIn(SILENCE_FRAME, concealed=True)
_FILLER: Final = (-1, b"")
_tick_output: Final = partial(tuple.__new__, TickOutput)
"""`TickOutput(datagrams, audio)` without the NamedTuple's Python-level __new__ (a third cheaper)."""
"""Jitter-buffer item for a packet with no audio of ours (telephone-event, comfort noise, other)."""


@dataclass(frozen=True, slots=True)
class RtpConfig:
    """What SDP negotiated and how strict to be; one per trunk, shared by its calls."""

    payload_type: int = 0
    """PCMU (0) or PCMA (8): what we send. Both are decoded on receipt, whatever was negotiated."""
    telephone_event_pt: int | None = 101
    """RFC 4733 payload type, mirrored from the offer (PJSIP offers 120); None: in-band tones."""
    jitter_target_frames: int = 3
    jitter_capacity_frames: int = 50
    latch_any_source: bool = False
    relatch_after_s: float = 1.0
    media_timeout_s: float = 30.0
    no_media_timeout_s: float = 30.0
    send_silence: bool = True
    """Send encoded silence when the application has no frame: keeps NAT bindings open and the
    peer's own RTP timeout quiet. False: send nothing (the next packet gets the marker bit)."""
    dtmf_volume_dbm0: int = 10
    dtmf_gap_ms: int = 40
    """Audio between two queued presses, so a gateway that regenerates tones keeps them apart."""
    max_queued_dtmf: int = 32

    def __post_init__(self) -> None:
        if self.payload_type not in G711_PAYLOAD_TYPES:
            raise ValueError(f"payload type {self.payload_type} is not PCMU (0) or PCMA (8)")
        te = self.telephone_event_pt
        if te is not None and not 96 <= te <= 127:
            raise ValueError(f"telephone-event payload type {te} outside the dynamic range 96-127")


@dataclass(frozen=True, slots=True)
class RtpStats:
    """A snapshot of the session's counters (cumulative since it started)."""

    packets_in: int
    bytes_in: int
    """UDP payload bytes (RTP headers included) of accepted packets."""
    packets_out: int
    bytes_out: int
    rtcp_in: int
    malformed_in: int
    rejected_source: int
    lost: int
    """RFC 3550 A.3 cumulative loss: expected minus received."""
    late: int
    duplicates: int
    concealed_frames: int
    jitter_ms: float
    """RFC 3550 A.8 interarrival jitter of the audio packets."""
    ssrc_changes: int
    dtmf_in: int
    dtmf_out: int
    dtmf_dropped: int
    underruns: int
    drift_drops: int


def _normalise_host(host: str) -> str:
    """Canonical text of an IP (IPv4-mapped IPv6 as IPv4), so SDP and socket spellings compare."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host  # not an IP literal: compared as given
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class RtpSession:
    """One call's RTP: send and receive G.711, RFC 4733 both ways, latching, jitter, timeouts."""

    def __init__(
        self,
        config: RtpConfig,
        remote: Address | None,
        now: float,
        *,
        ssrc: int | None = None,
        sequence_number: int | None = None,
        timestamp: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        # RFC 3550 §5.1: random initial sequence number and timestamp, random SSRC (§8.1).
        draw = rng or random.SystemRandom()
        self.config = config
        self.ssrc = draw.getrandbits(32) if ssrc is None else ssrc
        self._seq = draw.getrandbits(16) if sequence_number is None else sequence_number
        self._ts = draw.getrandbits(32) if timestamp is None else timestamp
        self._pt = config.payload_type
        self._encode = ENCODERS[config.payload_type]
        self._silence_payload = SILENCE_PAYLOADS[config.payload_type]
        self._te_pt = -1 if config.telephone_event_pt is None else config.telephone_event_pt
        # Second header byte of the next audio packet: the first packet of a stream starts a
        # talkspurt, so it carries the marker bit (RFC 3551 §4.1).
        self._second = self._pt | _MARKER_BIT

        self._remote_host: str | None = None
        self._send_to: Address | None = None
        self._latched: Address | None = None
        self._armed_at = now
        self._last_rx: float | None = None
        self._timeout_enabled = True
        self.set_remote(remote, now)

        self._jitter: JitterBuffer[tuple[int, bytes]] = JitterBuffer(
            config.jitter_target_frames, config.jitter_capacity_frames
        )
        self._concealer = Concealer()
        self._rx_started = False
        self._held: tuple[int, bytes] | None = None  # popped by take_payload for play_tick
        self._holding = False
        self._rx_pending = bytearray()  # decoded samples beyond one frame (peers with ptime != 20)
        self._dtmf_rx = DtmfReceiver()
        self._dtmf_queue: deque[tuple[str, int]] = deque()
        self._dtmf_tx: DtmfSender | None = None
        self._dtmf_gap_ticks = 0
        self._inband: deque[bytes] = deque()
        self._dtmf_busy = False  # any of the four above: the tick takes the slow path

        # A.8 jitter state, in timestamp units.
        self._jitter_ts = 0.0
        self._jitter_ssrc = -1
        self._prev_arrival_ts = 0.0
        self._prev_ts = 0

        self._packets_in = 0
        self._bytes_in = 0
        self._packets_out = 0
        self._bytes_out = 0
        self._rtcp_in = 0
        self._malformed_in = 0
        self._rejected_source = 0
        self._dtmf_in = 0
        self._dtmf_out = 0
        self._dtmf_dropped = 0

    # -- addresses -------------------------------------------------------------------------------

    @property
    def send_address(self) -> Address | None:
        """Where `on_tick` sends: the SDP address until latching, then the peer's real source."""
        return self._send_to

    @property
    def latched_address(self) -> Address | None:
        return self._latched

    def set_remote(self, remote: Address | None, now: float) -> None:
        """A new SDP from the peer (answer or re-INVITE): new address, latch again, rearm timeouts.

        None, or an unspecified address (c=0.0.0.0, the old way to put a call on hold), stops
        sending until a packet is latched.
        """
        host = None if remote is None else _normalise_host(str(remote[0]))
        if host in (None, "0.0.0.0", "::") or remote is None:
            self._remote_host = None
            self._send_to = None
        else:
            self._remote_host = host
            self._send_to = (host, int(remote[1]))
        self._latched = None
        self._armed_at = now
        if self._last_rx is not None:
            self._last_rx = now  # media flowed before: give the new address a full timeout

    def _source_allowed(self, source: Address, now: float) -> bool:
        """Slow path for a packet whose source is not the latched one."""
        config = self.config
        if not config.latch_any_source:
            host = source[0]
            if host != self._remote_host and _normalise_host(str(host)) != self._remote_host:
                return False
        last_rx = self._last_rx
        # Another source is still talking: this one may be a stray or an attacker, not a rebinding.
        return self._latched is None or last_rx is None or now - last_rx >= config.relatch_after_s

    # -- receiving -------------------------------------------------------------------------------

    def on_datagram(self, data: bytes, source: Address, now: float) -> tuple[RtpEvent, ...]:
        """One datagram from the call's RTP socket; returns DTMF presses and latching changes."""
        size = len(data)
        if size < HEADER_BYTES:
            self._malformed_in += 1
            return _NO_EVENTS
        first = data[0]
        second = data[1]
        if first >> 6 != 2:
            self._malformed_in += 1
            return _NO_EVENTS
        if second in RTCP_TYPES:
            self._rtcp_in += 1
            return _NO_EVENTS
        if first == PLAIN_FIRST_BYTE:
            payload = data[HEADER_BYTES:]
        else:
            try:
                start, end = payload_bounds(data)
            except RtpError:
                self._malformed_in += 1
                return _NO_EVENTS
            payload = data[start:end]

        events: tuple[RtpEvent, ...] = _NO_EVENTS
        if source != self._latched:
            if not self._source_allowed(source, now):
                self._rejected_source += 1
                return _NO_EVENTS
            events = (SourceLatched(source, self._latched),)
            self._latched = self._send_to = source

        _, _, seq, ts, ssrc = HEADER.unpack_from(data)
        self._last_rx = now
        self._packets_in += 1
        self._bytes_in += size
        pt = second & _PT_MASK
        if pt == 0 or pt == 8:
            self._jitter.push(ssrc, seq, (pt, payload))
            # RFC 3550 A.8: smoothed |difference in transit time| of consecutive arrivals.
            arrival_ts = now * SAMPLE_RATE_HZ
            if ssrc == self._jitter_ssrc:
                transit_change = (arrival_ts - self._prev_arrival_ts) - (
                    ((ts - self._prev_ts + _TS_HALF) & _TS_MASK) - _TS_HALF
                )
                if transit_change < 0:
                    transit_change = -transit_change
                self._jitter_ts += (transit_change - self._jitter_ts) * 0.0625
            else:
                self._jitter_ssrc = ssrc
                self._jitter_ts = 0.0
            self._prev_arrival_ts = arrival_ts
            self._prev_ts = ts
            return events
        self._jitter.push(ssrc, seq, _FILLER)
        if pt == self._te_pt:
            try:
                digit = self._dtmf_rx.on_packet(ssrc, ts, payload, now)
            except RtpError:
                self._malformed_in += 1
                return events
            if digit is not None:
                self._dtmf_in += 1
                return (*events, DtmfIn(digit))
        return events

    # -- the tick --------------------------------------------------------------------------------

    def on_tick(self, pcm16_frame: bytes | None) -> TickOutput:
        """Advance one 20 ms frame: the datagram to send and the frame for the application.

        `pcm16_frame` is the application's next 320-byte frame, or None when it has nothing to say.
        While a DTMF press is being sent it is discarded: RFC 4733 packets replace the audio.
        The same as `send_tick` then `play_tick`, which a transport with many calls calls in two
        passes (every call's packet first, so send timing does not depend on what arrived).
        """
        datagram = self.send_tick(pcm16_frame)
        return _tick_output(([] if datagram is None else [datagram], self.play_tick()))

    def skip_frames(self, frames: int) -> None:
        """`frames` ticks passed without a send_tick (the process fell behind): the RTP clock
        moves on as the sampling clock did; the sequence number does not (nothing was sent)."""
        self._ts = (self._ts + frames * SAMPLES_PER_FRAME) & _TS_MASK

    def send_tick(
        self, pcm16_frame: bytes | None, encoded: bytes | None = None
    ) -> tuple[bytes, Address] | None:
        """This tick's datagram and where to send it, or None (nowhere, or nothing to say).

        `encoded`: `pcm16_frame` already encoded with this session's payload type (a transport
        encodes every call's frame in one batch); ignored while DTMF replaces the audio.
        The RTP clock advances whatever happens, so a gap in sending shows as a timestamp jump.
        """
        seq = self._seq
        ts = self._ts
        self._ts = (ts + SAMPLES_PER_FRAME) & _TS_MASK
        if self._dtmf_busy or pcm16_frame is None:
            data = self._packet_without_app_audio(seq, ts, pcm16_frame)
            if data is None:
                return None
        else:
            if len(pcm16_frame) != FRAME_BYTES:
                raise ValueError(f"a frame is {FRAME_BYTES} bytes of PCM16, got {len(pcm16_frame)}")
            if encoded is None:
                encoded = self._encode(pcm16_frame)
            data = HEADER.pack(PLAIN_FIRST_BYTE, self._second, seq, ts, self.ssrc) + encoded
            self._second = self._pt
        destination = self._send_to
        if destination is None:
            return None
        self._seq = (seq + 1) & 0xFFFF
        self._packets_out += 1
        self._bytes_out += len(data)
        return (data, destination)

    def take_payload(self) -> tuple[int, bytes] | None:
        """Once per tick, for a transport that decodes every call's audio in one batch: the packet, as
        (payload type, 160 bytes of G.711), when one 20 ms packet is what plays now. Then
        `play_decoded(pcm16)` gives the application's frame. None: call `play_tick()` instead."""
        if self._rx_pending or self._holding:
            return None
        item = self._jitter.pop()
        if item is not None and len(item[1]) == SAMPLES_PER_FRAME:
            return item
        self._held, self._holding = item, True
        return None

    def play_decoded(self, pcm16: bytes) -> AudioIn:
        """The application's frame for the payload `take_payload` gave, decoded by the caller."""
        self._rx_started = True
        self._concealer.good(pcm16)
        return AudioIn(pcm16)

    def play_tick(self) -> AudioIn | None:
        """This tick's frame for the application from the jitter buffer (None before the first)."""
        if self._holding:
            held, self._held, self._holding = self._held, None, False
            return self._frame_from(held)
        if self._rx_pending:
            return self._frame_from_pending()
        return self._frame_from(self._jitter.pop())

    def _packet_without_app_audio(
        self, seq: int, ts: int, pcm16_frame: bytes | None
    ) -> bytes | None:
        """This tick's packet when DTMF is under way or the application sent nothing."""
        sender = self._dtmf_tx
        if sender is None and self._dtmf_queue and not self._dtmf_gap_ticks and not self._inband:
            sender = self._start_dtmf(ts)
        data: bytes | None = None
        if sender is not None:
            data = sender.next_packet(seq)
            if sender.done:
                self._dtmf_tx = None
                self._dtmf_gap_ticks = -(-self.config.dtmf_gap_ms // FRAME_MS)
        else:
            if self._dtmf_gap_ticks:
                self._dtmf_gap_ticks -= 1
            if self._inband:
                pcm16_frame = self._inband.popleft()
            if pcm16_frame is not None:
                if len(pcm16_frame) != FRAME_BYTES:
                    raise ValueError(
                        f"a frame is {FRAME_BYTES} bytes of PCM16, got {len(pcm16_frame)}"
                    )
                payload: bytes | None = self._encode(pcm16_frame)
            elif self.config.send_silence:
                payload = self._silence_payload
            else:
                payload = None
            if payload is None:
                self._second = self._pt | _MARKER_BIT  # the next packet starts a talkspurt
            else:
                data = HEADER.pack(PLAIN_FIRST_BYTE, self._second, seq, ts, self.ssrc) + payload
                self._second = self._pt
        self._dtmf_busy = (
            self._dtmf_tx is not None
            or bool(self._dtmf_queue)
            or bool(self._inband)
            or self._dtmf_gap_ticks > 0
        )
        return data

    def _frame_from(self, item: tuple[int, bytes] | None) -> AudioIn | None:
        """The application's frame from one jitter-buffer result (None: nothing to play)."""
        if item is None:
            return self._conceal()
        pt, payload = item
        pcm16 = DECODERS[pt](payload) if payload else SILENCE_FRAME
        if len(pcm16) == FRAME_BYTES:
            return self.play_decoded(pcm16)
        self._rx_pending += pcm16
        return self._frame_from_pending()

    def _frame_from_pending(self) -> AudioIn | None:
        """Packets of another length than 20 ms: play 20 ms from a small sample queue, popping
        packets only as samples run short, so a 30 ms sender is consumed at its own pace."""
        pending = self._rx_pending
        while len(pending) < FRAME_BYTES:
            item = self._jitter.pop()
            if item is None:
                break
            pt, payload = item
            pending += DECODERS[pt](payload) if payload else SILENCE_FRAME
        if len(pending) < FRAME_BYTES:
            pending.clear()  # a partial frame is not worth a click: conceal the whole frame
            return self._conceal()
        frame = bytes(pending[:FRAME_BYTES])
        del pending[:FRAME_BYTES]
        return self.play_decoded(frame)

    def _conceal(self) -> AudioIn | None:
        if not self._rx_started:
            return None
        pcm16 = self._concealer.conceal()
        return _SILENCE_IN if pcm16 is SILENCE_FRAME else AudioIn(pcm16, concealed=True)

    # -- DTMF ------------------------------------------------------------------------------------

    def send_dtmf(self, digit: str, duration_ms: int) -> bool:
        """Queue one key press; False (and counted) when `max_queued_dtmf` presses are waiting.

        RFC 4733 when a telephone-event payload type was negotiated, in-band tones otherwise. The
        duration is brought into 40-1000 ms. `ValueError` for a digit outside 0-9 * # A-D.
        """
        event_code(digit)
        duration_ms = min(max(int(duration_ms), MIN_DTMF_DURATION_MS), MAX_DTMF_DURATION_MS)
        if len(self._dtmf_queue) >= self.config.max_queued_dtmf:
            self._dtmf_dropped += 1
            return False
        self._dtmf_queue.append((digit.upper(), duration_ms))
        self._dtmf_busy = True
        return True

    def _start_dtmf(self, ts: int) -> DtmfSender | None:
        digit, duration_ms = self._dtmf_queue.popleft()
        self._dtmf_out += 1
        config = self.config
        if config.telephone_event_pt is None:
            gap = bytes(BYTES_PER_SAMPLE * config.dtmf_gap_ms * SAMPLE_RATE_HZ // 1000)
            tone = dtmf_tone(digit, duration_ms) + gap
            tone += bytes(
                -len(tone) % FRAME_BYTES
            )  # whole frames: the last one padded with silence
            self._inband.extend(tone[i : i + FRAME_BYTES] for i in range(0, len(tone), FRAME_BYTES))
            return None
        self._dtmf_tx = DtmfSender(
            digit,
            duration_ms,
            payload_type=config.telephone_event_pt,
            ssrc=self.ssrc,
            timestamp=ts,
            volume_dbm0=config.dtmf_volume_dbm0,
        )
        return self._dtmf_tx

    @property
    def sending_dtmf(self) -> bool:
        """True while a press (or queued presses) replace the application's audio."""
        return self._dtmf_tx is not None or bool(self._dtmf_queue) or bool(self._inband)

    # -- timeouts and statistics -----------------------------------------------------------------

    def set_timeout_enabled(self, enabled: bool, now: float) -> None:
        """Suspend the RTP timeout (a call on hold may legitimately receive nothing) or rearm it."""
        if enabled and not self._timeout_enabled:
            self._armed_at = now
            if self._last_rx is not None:
                self._last_rx = now
        self._timeout_enabled = enabled

    def timeout_deadline(self) -> float | None:
        """When `timeout` will fire if nothing arrives, or None while suspended."""
        if not self._timeout_enabled:
            return None
        if self._last_rx is None:
            return self._armed_at + self.config.no_media_timeout_s
        return self._last_rx + self.config.media_timeout_s

    def timeout(self, now: float) -> RtpTimeout | None:
        """Why the media is dead at `now`, or None while it is alive (or the timeout suspended)."""
        deadline = self.timeout_deadline()
        if deadline is None or now < deadline:
            return None
        return RtpTimeout.NO_MEDIA if self._last_rx is None else RtpTimeout.MEDIA_STOPPED

    def timed_out(self, now: float) -> bool:
        return self.timeout(now) is not None

    def stats(self) -> RtpStats:
        jitter = self._jitter
        return RtpStats(
            packets_in=self._packets_in,
            bytes_in=self._bytes_in,
            packets_out=self._packets_out,
            bytes_out=self._bytes_out,
            rtcp_in=self._rtcp_in,
            malformed_in=self._malformed_in,
            rejected_source=self._rejected_source,
            lost=jitter.rfc3550_lost(),
            late=jitter.late,
            duplicates=jitter.duplicates,
            concealed_frames=self._concealer.concealed_frames,
            jitter_ms=self._jitter_ts * 1000.0 / SAMPLE_RATE_HZ,
            ssrc_changes=jitter.ssrc_changes,
            dtmf_in=self._dtmf_in,
            dtmf_out=self._dtmf_out,
            dtmf_dropped=self._dtmf_dropped,
            underruns=jitter.underruns,
            drift_drops=jitter.drift_drops,
        )
