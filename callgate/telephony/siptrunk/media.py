"""The RTP plane: one UDP socket per call from an even-port range, every call driven by the one tick.

Thin glue around `callgate.telephony.rtp.RtpSession`, which holds all the media logic. Everything
happens on the shared `MediaTicker`'s tick, in one listener for the whole trunk, so the loop wakes
50 times a second for media whatever the number of calls (no reader callback, task or protocol
object per call). Each tick:

1. send: for every call with media, the frame the domain gave through `send_audio` since the last
   tick (or None: the session sends encoded silence) goes into `send_tick` and its packet goes
   out. Sending comes first so that the send times are as regular as the tick: a variable amount
   of reading before them measured as 4-8 ms of p99 send jitter at 500 calls.
2. drain: one `poll(0)` on a private epoll set of every call's socket says which have datagrams;
   each is read and handed to its session (`on_datagram`); repeat until none is ready (bounded).
   An RFC 4733 press is reported (`TrunkDtmf`) here, when its first packet is read.
3. play: every call's jitter buffer gives its frame (`play_tick`), which comes up as `TrunkAudio`
   (from the first packet played on; early media too).

G.711 is encoded and decoded for all calls at once (one table lookup per payload type per tick,
`take_payload`/`play_decoded` and `send_tick(frame, encoded)`): about 0.4 µs a frame instead of 2,
some 8 % of a core at 500 calls.

Reading on the tick rather than on arrival (a reader callback per socket) measured about 10-20 %
less CPU at 500 calls, one wake-up per tick instead of one per datagram, and keeps the tick on
time, since no burst of read callbacks can stand in front of its timer. The cost: a packet waits
at most one tick before the jitter buffer sees it (it would wait there anyway), and the
session's RFC 3550 interarrival jitter is measured at tick resolution.

Music on hold: while we hold a call (hold.py's `MusicOnHold`), the tick sends the next frame of
`hold_music` (decoded once, at start, looped per call) in place of the domain's frame, or comfort
silence without a file; the domain's frames are ignored meanwhile.

Symmetric RTP is the session's policy: it sends to the SDP address until the peer's packets show
where it really is (only packets from the SDP's IP count, unless `latch_any_source`).

RTP timeout: a connected call that is on hold neither way and receives no RTP for
`rtp_timeout_s` is reported through `on_dead(session_id, cause)` (checked once a second); the
trunk then sends BYE and `TrunkHangup(cause, by_remote=False)`. The cause says which way the media died:

- `MEDIA_STOPPED_CAUSE` = 102, Recovery on timer expiry (the spec's "Connection timeout"): RTP
  flowed, then stopped: the peer or the path to it went away without a BYE.
- `NO_MEDIA_CAUSE` = 38, Network out of order (the spec's "Network failure"): no RTP ever came:
  the media path never worked (firewall, NAT, a wrong address in the SDP).

SRTP (when the SDP settled keys, `NegotiatedAudio.srtp`): each packet is protected just before its
`sendto` and unprotected just after its `recvfrom`, by `rtp/srtp.py` (libsrtp), so the session
sees plain RTP either way. A packet that fails authentication or the replay check is dropped
before the session sees it (it cannot latch the source or feed the jitter buffer); RTCP
multiplexed onto the port (we send none, and use none) is dropped unread. The two directions'
contexts are replaced separately when a re-INVITE changes the suite or a key.

Bounded: one socket per call, sockets only from the configured range, at most
`MAX_READS_PER_TICK` datagrams read per call per tick, so a flooded socket cannot stall the tick
(the kernel drops the rest when its buffer fills).
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import random
import select
import socket
from collections.abc import Callable, Iterator
from typing import Final, Protocol

from callgate.calls.causes import Cause
from callgate.calls.trunk import TrunkAudio, TrunkDtmf, TrunkEvent
from callgate.clock import Clock, MediaTicker, TickPhase
from callgate.media.audiofile import read_audio_file
from callgate.media.pcm import FRAME_BYTES, SAMPLES_PER_FRAME
from callgate.telephony.rtp import DtmfIn, RtpConfig, RtpSession, RtpStats, RtpTimeout
from callgate.telephony.rtp.codec import BATCH_DECODERS, BATCH_ENCODERS
from callgate.telephony.rtp.packet import is_rtcp
from callgate.telephony.rtp.srtp import SrtpReceiver, SrtpSender
from callgate.telephony.sip import NegotiatedAudio
from callgate.telephony.sip.sdes import SrtpKeys

from .outputs import MediaStart
from .settings import SipTrunkSettings

__all__ = ["MEDIA_STOPPED_CAUSE", "NO_MEDIA_CAUSE", "MediaPlane", "PortRange"]

log = logging.getLogger(__name__)

MEDIA_STOPPED_CAUSE: Final = int(Cause.RECOVERY_ON_TIMER_EXPIRY)
NO_MEDIA_CAUSE: Final = int(Cause.NETWORK_OUT_OF_ORDER)
TIMEOUT_CHECK_TICKS: Final = 50
MAX_READS_PER_TICK: Final = 8
MAX_BIND_ATTEMPTS: Final = 64
_DATAGRAM_BYTES: Final = 2048
_CAUSES: Final = {
    RtpTimeout.MEDIA_STOPPED: MEDIA_STOPPED_CAUSE,
    RtpTimeout.NO_MEDIA: NO_MEDIA_CAUSE,
}


class PortRange:
    """Even ports in [low, high], handed out round-robin from a random start, so a port a call
    just released is the last to be reused (late packets of the old call find nobody)."""

    def __init__(self, low: int, high: int, *, rng: random.Random | None = None) -> None:
        self.low = low + (low & 1)
        self.high = high
        self.size = (high - self.low) // 2 + 1
        self._next = (rng or random.SystemRandom()).randrange(self.size)
        self.in_use: set[int] = set()

    def candidates(self, limit: int) -> Iterator[int]:
        """Up to `limit` free ports to try binding, in turn."""
        tried = 0
        for _ in range(self.size):
            port = self.low + 2 * self._next
            self._next = (self._next + 1) % self.size
            if port in self.in_use:
                continue
            yield port
            tried += 1
            if tried >= limit:
                return


class _Poller(Protocol):
    def register(self, fd: int, eventmask: int = ...) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self, timeout: float | None = ...) -> list[tuple[int, int]]: ...


@dataclasses.dataclass(slots=True, eq=False)
class _Stream:
    session_id: str
    sock: socket.socket
    port: int
    session: RtpSession | None = None
    frame: bytes | None = None
    sending: bool = False
    remote: tuple[str, int] | None = None
    closed: bool = False
    srtp_keys: SrtpKeys | None = None
    srtp_out: SrtpSender | None = None
    srtp_in: SrtpReceiver | None = None
    music_at: int | None = None  # on our hold: the next frame of music on hold to send


class MediaPlane:
    def __init__(
        self,
        settings: SipTrunkSettings,
        clock: Clock,
        ticker: MediaTicker,
        emit: Callable[[TrunkEvent], None],
        on_dead: Callable[[str, int], None],
    ) -> None:
        self._clock = clock
        self._ticker = ticker
        self._emit = emit
        self._on_dead = on_dead
        self._bind_host = settings.rtp_bind_host or settings.bind_host
        self._family = socket.AF_INET6 if ":" in self._bind_host else socket.AF_INET
        self._ports = PortRange(settings.rtp_port_min, settings.rtp_port_max)
        self._timeout_s = settings.rtp_timeout_s
        timeout = self._timeout_s or 3600.0  # 0: never; the session still needs a value
        self._base = RtpConfig(
            media_timeout_s=timeout,
            no_media_timeout_s=timeout,
            latch_any_source=settings.latch_any_source,
        )
        # Music on hold, whole frames, looped; empty: comfort silence (see `hold_music`).
        self._music: tuple[bytes, ...] = ()
        if settings.hold_music is not None:
            pcm = read_audio_file(settings.hold_music)
            pcm += bytes(-len(pcm) % FRAME_BYTES)
            self._music = tuple(pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES))
        self._holding: set[_Stream] = set()  # streams playing music on hold
        self._streams: dict[str, _Stream] = {}
        self._by_fd: dict[int, _Stream] = {}
        self._poller: _Poller | None = None
        self.sent_at = 0.0
        """When the latest tick's last packet went to the kernel (monotonic s): send timing, for
        monitoring and the benchmark."""
        self._unsubscribe: Callable[[], None] | None = None
        self._last_tick: int | None = None

    def __len__(self) -> int:
        return len(self._streams)

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py)."""
        return {
            "rtp_streams": len(self._streams),
            "rtp_ports": len(self._ports.in_use),
            "rtp_sockets": len(self._by_fd),
        }

    def start(self) -> None:
        # epoll where there is one (Linux); poll has the same register/poll interface.
        self._poller = select.epoll() if hasattr(select, "epoll") else select.poll()
        self._unsubscribe = self._ticker.subscribe(self._on_tick, TickPhase.TRUNK)
        self._ticker.start()

    def close(self) -> None:
        for session_id in list(self._streams):
            self.stop(session_id)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        close = getattr(self._poller, "close", None)  # epoll holds a descriptor; poll does not
        if close is not None:
            close()
        self._poller = None

    # --- per call -----------------------------------------------------------------------------

    def open(self, session_id: str) -> int | None:
        """Bind the call's RTP socket; its port, or None when no port in the range is free."""
        poller = self._poller
        if poller is None:
            return None
        existing = self._streams.get(session_id)
        if existing is not None:
            return existing.port
        for port in self._ports.candidates(MAX_BIND_ATTEMPTS):
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.bind((self._bind_host, port))
            except OSError:
                sock.close()  # taken by another program: try the next
                continue
            stream = _Stream(session_id, sock, port)
            self._streams[session_id] = stream
            self._ports.in_use.add(port)
            self._by_fd[sock.fileno()] = stream
            poller.register(sock.fileno(), select.POLLIN)
            return port
        log.warning("no free RTP port in %d-%d", self._ports.low, self._ports.high)
        return None

    def apply(self, order: MediaStart) -> None:
        """Start or update the call's RTP as negotiated (answer, early media, re-INVITE)."""
        stream = self._streams.get(order.session_id)
        if stream is None:
            return
        audio = order.audio
        now = self._clock.monotonic()
        remote = _remote_of(audio)
        te = audio.telephone_event_pt
        config = dataclasses.replace(
            self._base,
            payload_type=audio.codec.payload_type,
            telephone_event_pt=te if te is not None and 96 <= te <= 127 else None,
        )
        session = stream.session
        if session is None or session.config != config:
            session = stream.session = RtpSession(config, remote, now)
        elif remote != stream.remote:
            session.set_remote(remote, now)
        stream.remote = remote
        stream.sending = audio.send
        _apply_srtp(stream, audio.srtp)
        # No RTP is due while either side holds: the peer's (sendonly/inactive), or ours (we
        # offered sendonly, so a recvonly peer sends nothing for as long as the hold lasts).
        expecting = audio.receive and audio.remote_direction.sends
        timeout = order.answered and self._timeout_s > 0 and not audio.on_hold and expecting
        session.set_timeout_enabled(timeout, now)

    def music_on_hold(self, session_id: str, playing: bool) -> None:
        """Send music on hold (or comfort silence) in place of `send_audio`'s frames, or stop."""
        stream = self._streams.get(session_id)
        if stream is None:
            return
        if playing:
            if stream.music_at is None:
                stream.music_at = 0
            self._holding.add(stream)
        else:
            stream.music_at = None
            self._holding.discard(stream)

    def stop(self, session_id: str) -> RtpStats | None:
        """Close the call's RTP; its final counters, or None if it had no stream or no session."""
        stream = self._streams.pop(session_id, None)
        if stream is None:
            return None
        self._holding.discard(stream)
        stats = None if stream.session is None else stream.session.stats()
        stream.closed = True
        if stream.srtp_in is not None and stream.srtp_in.rejected:
            log.info(
                "call %s: %d SRTP packets failed authentication or replay checks (dropped)",
                session_id,
                stream.srtp_in.rejected,
            )
        self._ports.in_use.discard(stream.port)
        fd = stream.sock.fileno()
        self._by_fd.pop(fd, None)
        if self._poller is not None:
            with contextlib.suppress(OSError, KeyError):
                self._poller.unregister(fd)
        stream.sock.close()
        return stats

    def stats(self, session_id: str) -> RtpStats | None:
        stream = self._streams.get(session_id)
        return None if stream is None or stream.session is None else stream.session.stats()

    def send_audio(self, session_id: str, frame: bytes) -> None:
        stream = self._streams.get(session_id)
        if stream is not None and stream.music_at is None:
            stream.frame = frame

    def send_dtmf(self, session_id: str, digit: str, duration_ms: int) -> None:
        stream = self._streams.get(session_id)
        if stream is None or stream.session is None:
            return
        try:
            stream.session.send_dtmf(digit, duration_ms)
        except ValueError as exc:
            log.info("call %s: DTMF not sent: %s", session_id, exc)

    # --- the loop's callbacks -----------------------------------------------------------------

    def _drain(self, now: float) -> None:
        """Read every datagram waiting on any call's socket (one per socket per round)."""
        if self._poller is None:
            return
        poll = self._poller.poll
        by_fd = self._by_fd
        emit = self._emit
        for _ in range(MAX_READS_PER_TICK):
            ready = poll(0)
            if not ready:
                return
            for fd, _mask in ready:
                stream = by_fd.get(fd)
                if stream is None or stream.closed:
                    continue
                try:
                    data, source = stream.sock.recvfrom(_DATAGRAM_BYTES)
                except OSError:
                    continue
                session = stream.session
                if session is None:
                    continue
                srtp_in = stream.srtp_in
                if srtp_in is not None:
                    if is_rtcp(data):
                        continue  # SRTCP multiplexed onto the port: we use no RTCP
                    plain = srtp_in.unprotect(data)
                    if plain is None:
                        continue  # forged, replayed or corrupted: counted, never played
                    data = plain
                for event in session.on_datagram(data, source, now):
                    if isinstance(event, DtmfIn):
                        emit(TrunkDtmf(stream.session_id, event.digit))

    def _on_tick(self, tick_no: int) -> None:
        clock = self._clock
        now = clock.monotonic()
        streams = [
            stream
            for stream in self._streams.values()
            if stream.session is not None and not stream.closed
        ]
        last, self._last_tick = self._last_tick, tick_no
        if last is not None and tick_no - last > 1:
            # Ticks the process fell too far behind to run (MediaTicker skips ahead): the
            # sampling clock went on, so RTP time does too, and the far end sees a gap, not a
            # slower clock (RFC 3550 5.1).
            for stream in streams:
                assert stream.session is not None
                stream.session.skip_frames(tick_no - last - 1)
        if self._holding:
            self._music_tick()
        # Send first, every call's packet before anything is read: how much arrived since the last
        # tick then cannot move the send times, which stay as regular as the tick itself.
        frames = [stream.frame for stream in streams]
        encoded = self._encode_all(streams, frames)
        for stream, frame, payload in zip(streams, frames, encoded, strict=True):
            stream.frame = None
            session = stream.session
            assert session is not None
            datagram = session.send_tick(frame, payload)
            if datagram is not None and stream.sending:
                data, destination = datagram
                srtp_out = stream.srtp_out
                if srtp_out is not None:
                    protected = srtp_out.protect(data)
                    if protected is None:
                        continue  # libsrtp refused it (counted): nothing goes out in clear
                    data = protected
                # try/except, not contextlib.suppress: this runs 50 times a second per call.
                try:  # noqa: SIM105
                    stream.sock.sendto(data, destination)
                except OSError:
                    pass  # RTP is lossy by design; the timeout deals with a dead path
        self.sent_at = clock.monotonic()
        try:
            self._drain(now)
        except Exception:  # whatever went wrong, the application still gets this tick's frames
            log.exception("RTP receive failed")
        self._play_all(streams)
        if tick_no % TIMEOUT_CHECK_TICKS == 0:
            self._check_timeouts(now)

    def _music_tick(self) -> None:
        """This tick's frame of music on hold for every held stream (None: silence)."""
        music = self._music
        for stream in self._holding:
            at = stream.music_at or 0
            if music:
                stream.frame = music[at]
                stream.music_at = (at + 1) % len(music)
            else:
                stream.frame = None

    @staticmethod
    def _encode_all(streams: list[_Stream], frames: list[bytes | None]) -> list[bytes | None]:
        """Every whole frame encoded, one table lookup per payload type (see codec.py)."""
        encoded: list[bytes | None] = [None] * len(frames)
        batches: dict[int, list[int]] = {}
        for index, (stream, frame) in enumerate(zip(streams, frames, strict=True)):
            if frame is not None and len(frame) == FRAME_BYTES:
                assert stream.session is not None
                batches.setdefault(stream.session.config.payload_type, []).append(index)
        for payload_type, indexes in batches.items():
            joined = BATCH_ENCODERS[payload_type]([frames[i] or b"" for i in indexes])
            for n, index in enumerate(indexes):
                encoded[index] = joined[n * SAMPLES_PER_FRAME : (n + 1) * SAMPLES_PER_FRAME]
        return encoded

    def _play_all(self, streams: list[_Stream]) -> None:
        """Every call's frame for the application; the usual 20 ms packets decoded in one batch."""
        emit = self._emit
        batches: dict[int, tuple[list[_Stream], list[bytes]]] = {}
        for stream in streams:
            session = stream.session
            if session is None or stream.closed:
                continue
            taken = session.take_payload()
            if taken is not None:
                batch = batches.get(taken[0])
                if batch is None:
                    batch = batches[taken[0]] = ([], [])
                batch[0].append(stream)
                batch[1].append(taken[1])
                continue
            audio = session.play_tick()
            if audio is not None:
                emit(TrunkAudio(stream.session_id, audio.pcm16))
        for payload_type, (batch_streams, payloads) in batches.items():
            pcm16 = BATCH_DECODERS[payload_type](payloads)
            for n, stream in enumerate(batch_streams):
                assert stream.session is not None
                audio = stream.session.play_decoded(pcm16[n * FRAME_BYTES : (n + 1) * FRAME_BYTES])
                if not stream.closed:  # an earlier event of this tick may have ended the call
                    emit(TrunkAudio(stream.session_id, audio.pcm16))

    def _check_timeouts(self, now: float) -> None:
        dead = []
        for stream in self._streams.values():
            session = stream.session
            reason = None if session is None else session.timeout(now)
            if session is not None and reason is not None:
                session.set_timeout_enabled(False, now)  # reported once
                dead.append((stream.session_id, _CAUSES[reason]))
        for session_id, cause in dead:
            self._on_dead(session_id, cause)


def _apply_srtp(stream: _Stream, keys: SrtpKeys | None) -> None:
    """SRTP contexts for what the SDP settled; each direction's kept while its key stays, so
    our rollover counter and the peer's replay window survive a re-INVITE that changes neither."""
    old = stream.srtp_keys
    stream.srtp_keys = keys
    if keys is None:
        stream.srtp_out = stream.srtp_in = None
        return
    if old is not None and old.suite is not keys.suite:
        old = None  # another suite: both contexts are new
    if stream.srtp_out is None or old is None or old.send_key != keys.send_key:
        stream.srtp_out = SrtpSender(keys.suite.value, keys.send_key)
    if stream.srtp_in is None or old is None or old.receive_key != keys.receive_key:
        stream.srtp_in = SrtpReceiver(keys.suite.value, keys.receive_key)


def _remote_of(audio: NegotiatedAudio) -> tuple[str, int] | None:
    """Where the SDP says to send; None for a name (never resolved on the media path) or port 0."""
    if audio.remote_port == 0:
        return None
    try:
        ipaddress.ip_address(audio.remote_address)
    except ValueError:
        return None
    return (audio.remote_address, audio.remote_port)
