"""`SipTrunk`: the domain's `Trunk` over SIP and RTP, wiring the engine, the transports and one clock.

The call-control engine (engine.py) decides everything; this shell feeds it the domain's commands,
the transport's messages and the clock, carries out what it returns in order (SIP sends, media
orders, trunk events to the listener), and keeps ONE timer armed at the engine's next deadline.
RTP for every call runs on the shared `MediaTicker` (media.py).

Commands never raise and never block. A call that cannot get an RTP port fails with cause 34
(no circuit available), as does a dial beyond `max_calls`; one that fails on a bug of ours, with
127 (interworking), logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import Sequence

from callgate.calls.causes import Cause
from callgate.calls.quality import MediaQuality
from callgate.calls.trunk import (
    SignallingFigures,
    TrunkDeadAir,
    TrunkEvent,
    TrunkHangup,
    TrunkListener,
    TrunkMediaQuality,
)
from callgate.clock import Clock, MediaTicker, Timer
from callgate.telephony.rtp import RtpStats
from callgate.telephony.sip import Endpoint, Send, Target, TransactionKey
from callgate.telephony.sip.locate import Located, LocateError

from .call import Phase
from .engine import NO_CIRCUIT_CAUSE, CallControl, LocalAddress
from .media import MediaPlane
from .outputs import MediaStart, MediaStop, MusicOnHold, Output
from .resolver import TrunkResolver
from .settings import SipTrunkSettings, split_optional_port
from .transport import SipTransport
from .trust import TrustedSources

__all__ = ["DNS_FAILURE_CAUSE", "STOP_GRACE_S", "SipTrunk"]

log = logging.getLogger(__name__)

Headers = tuple[tuple[str, str], ...]

DNS_FAILURE_CAUSE = int(Cause.NETWORK_OUT_OF_ORDER)
"""The trunk's host name does not resolve (NXDOMAIN, no records, no server answered)."""
STOP_GRACE_S = 2.0
"""How long `stop` waits for the BYEs, CANCELs and un-REGISTER it sent to be answered."""


class SipTrunk:
    """A `Trunk` whose calls go to a SIP carrier or PBX (see `SipTrunkSettings`)."""

    def __init__(self, settings: SipTrunkSettings, clock: Clock, ticker: MediaTicker) -> None:
        self.settings = settings
        self._clock = clock
        self._listener: TrunkListener | None = None
        self._engine: CallControl | None = None
        self._transport = SipTransport(self._on_message, self._on_send_failed, clock=clock)
        self._media = MediaPlane(settings, clock, ticker, self._emit, self._on_media_dead)
        self._timer: Timer | None = None
        self._timer_at = 0.0
        self._idle: asyncio.Event | None = None
        self._hop: TrunkResolver | None = None  # where out-of-dialog requests go (RFC 3263)
        self._trusted: TrustedSources | None = None
        self._locating: asyncio.Task[None] | None = None
        # dials awaiting DNS: destination, caller id, RTP port, X- headers
        self._waiting: dict[str, tuple[str, str | None, int, Headers]] = {}
        self._random = random.Random()

    # --- inspection -------------------------------------------------------------------------

    @property
    def engine(self) -> CallControl:
        """The call-control engine (after `start`): its stats, calls and registration."""
        if self._engine is None:
            raise RuntimeError("the SIP trunk is not started")
        return self._engine

    def signalling_figures(self) -> SignallingFigures:
        """For metrics (`ReportsSignalling`); zeros before `start`."""
        engine = self._engine
        if engine is None:
            return SignallingFigures(0, 0, 0, 0, 0)
        sent, received = engine.layer.retransmissions()
        stats = engine.stats
        refused = stats["untrusted"] + stats["refused"] + stats["dropped"]
        return SignallingFigures(len(engine.layer), len(engine), sent, received, refused)

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py); the engine's tables empty before `start`."""
        engine = self._engine
        return {
            **(engine.held() if engine is not None else {}),
            **self._media.held(),
            **self._transport.held(),
            "sip_dials_waiting": len(self._waiting),
        }

    @property
    def local_port(self) -> int:
        """The SIP port we listen on (the bound one when `bind_port` is 0)."""
        return self._transport.local_port

    @property
    def registered(self) -> bool:
        registration = None if self._engine is None else self._engine.registration
        return registration is not None and registration.registered

    @property
    def media_streams(self) -> int:
        return len(self._media)

    @property
    def rtp_sent_at(self) -> float:
        """When the latest media tick's last RTP packet went out (monotonic s; 0.0 before)."""
        return self._media.sent_at

    def rtp_stats(self, session_id: str) -> RtpStats | None:
        """The call's RTP counters (packets, loss, jitter, DTMF), or None without media."""
        return self._media.stats(session_id)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, listener: TrunkListener) -> None:
        """Resolve the trunk, bind the SIP socket(s), start media and REGISTER when configured.
        Raises OSError when the trunk host does not resolve or the port cannot be bound."""
        settings = self.settings
        tls = settings.transport in ("tls", "auto")
        self._hop = TrunkResolver.for_hop(
            settings, settings.host, settings.port, self._clock, tls=tls
        )
        hop = trunk = await _located(self._hop)
        trusted = TrustedSources(
            settings.trusted_sources,
            hosts=[t.host for t in trunk.targets],
            host_ports=settings.trunk_source_ports,
        )
        if settings.outbound_proxy is not None:  # requests go there, RFC 3263 applied to it
            host, port = split_optional_port("outbound_proxy", settings.outbound_proxy)
            self._hop = TrunkResolver.for_hop(settings, host, port, self._clock, tls=tls)
            hop = await _located(self._hop)
            for target in hop.targets:
                trusted.add_host(target.host)
        self._trusted = trusted
        first_hop = hop.targets[0]
        self._transport.trusted = trusted.allows  # TCP: who gets a stranger's slot at accept
        tls_server = None
        if tls:
            self._transport.tls_client, tls_server = _tls_contexts(settings)
            self._transport.tls_server_name = settings.host
        port = await self._transport.open(
            settings.bind_host,
            settings.bind_port,
            tcp=settings.transport == "tcp",
            tls=tls_server,
        )
        public = settings.public_host or _local_address(settings.bind_host, first_hop.host)
        endpoint = Endpoint(
            public,
            port,
            settings.transport.upper(),
            user=settings.username,
            user_agent=settings.user_agent,
            secure=settings.sips,
        )
        self._listener = listener
        self._engine = CallControl(settings, LocalAddress(endpoint, public), first_hop, trusted)
        self._engine.route(hop.targets)
        self._media.start()
        log.info("SIP trunk to %s via %s, listening on %s", settings.host, first_hop, endpoint)
        self._execute(self._engine.start(self._clock.monotonic()))

    async def stop(self) -> None:
        """End every call, remove our registration, wait (bounded) for the answers, close up."""
        engine = self._engine
        if engine is not None:
            self._idle = asyncio.Event()
            self._execute(engine.stop(self._clock.monotonic()))
            if not engine.idle:
                try:
                    await asyncio.wait_for(self._idle.wait(), STOP_GRACE_S)
                except TimeoutError:
                    log.info("SIP trunk stopped with %d calls still ending", len(engine))
        if self._locating is not None:
            self._locating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._locating
            self._locating = None
        self._waiting.clear()
        self._media.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._transport.close()
        self._engine = None
        self._listener = None

    # --- Trunk commands -----------------------------------------------------------------------

    def dial(
        self,
        session_id: str,
        destination: str,
        caller_id: str | None,
        *,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        try:
            self._dial(session_id, destination, caller_id, tuple(headers))
        except Exception:  # a bug of ours must not reach the domain; the call fails instead
            log.exception("call %s could not be dialled", session_id)
            self._media.stop(session_id)
            self._emit(TrunkHangup(session_id, int(Cause.INTERWORKING), by_remote=False))

    def _dial(
        self, session_id: str, destination: str, caller_id: str | None, headers: Headers
    ) -> None:
        engine = self._engine
        if engine is None:
            log.warning("call %s not dialled: the SIP trunk is not started", session_id)
            return
        port = self._media.open(session_id)
        if port is None:
            self._emit(TrunkHangup(session_id, NO_CIRCUIT_CAUSE, by_remote=False))
            return
        located = self._routed()
        if located is None:  # the DNS answer expired: dial once it is looked up again
            if len(self._waiting) >= self.settings.max_calls:
                self._media.stop(session_id)
                self._emit(TrunkHangup(session_id, NO_CIRCUIT_CAUSE, by_remote=False))
                return
            self._waiting[session_id] = (destination, caller_id, port, headers)
            return
        self._place(engine, session_id, destination, caller_id, port, located, headers)

    def _place(
        self,
        engine: CallControl,
        session_id: str,
        destination: str,
        caller_id: str | None,
        port: int,
        located: Located | None,
        headers: Headers = (),
    ) -> None:
        # Each call draws its own order of the SRV targets, so calls share out by their weights.
        targets = () if located is None else located.drawn(self._random.random)
        now = self._clock.monotonic()
        self._execute(
            engine.dial(
                session_id, destination, caller_id, port, now, targets=targets, headers=headers
            )
        )

    def _routed(self) -> Located | None:
        """The trunk's fresh resolution (an empty one for an IP); None when it expired, and
        then one lookup is started."""
        hop = self._hop
        if hop is None:
            return Located((), 0.0)
        located = hop.cached()
        if located is None and self._locating is None:
            self._locating = asyncio.get_running_loop().create_task(self._relocate(hop))
        return located

    async def _relocate(self, hop: TrunkResolver) -> None:
        """Look the trunk up again; then place the dials that waited, or fail them (cause 38)."""
        located: Located | None = None
        try:
            located = await hop.locate()
        except LocateError as exc:
            failure: Exception = exc
        except Exception as exc:  # a bug of ours: the calls must not hang on it
            log.exception("SIP trunk: looking up %s failed", hop.host)
            failure = exc
        # Done before anything is emitted: a listener that dials again starts a new lookup.
        self._locating = None
        if located is None:
            log.warning("SIP trunk: %s; %d call(s) fail", failure, len(self._waiting))
            waiting, self._waiting = self._waiting, {}
            for session_id in waiting:
                self._media.stop(session_id)
                self._emit(TrunkHangup(session_id, DNS_FAILURE_CAUSE, by_remote=False))
            return
        engine = self._engine
        if engine is None:
            return
        engine.route(located.targets)
        if self._trusted is not None:
            for target in located.targets:
                self._trusted.add_host(target.host)
        waiting, self._waiting = self._waiting, {}
        for session_id, (destination, caller_id, port, headers) in waiting.items():
            try:
                self._place(engine, session_id, destination, caller_id, port, located, headers)
            except Exception:
                log.exception("call %s could not be dialled", session_id)
                self._media.stop(session_id)
                self._emit(TrunkHangup(session_id, int(Cause.INTERWORKING), by_remote=False))

    def answer(self, session_id: str) -> None:
        try:
            self._answer(session_id)
        except Exception:
            log.exception("call %s could not be answered", session_id)

    def _answer(self, session_id: str) -> None:
        engine = self._engine
        if engine is None or engine.phase(session_id) is not Phase.OFFERED:
            return  # not offered, or the caller gave up meanwhile
        port = self._media.open(session_id)
        now = self._clock.monotonic()
        if port is None:
            self._execute(engine.hangup(session_id, NO_CIRCUIT_CAUSE, now))
            self._emit(TrunkHangup(session_id, NO_CIRCUIT_CAUSE, by_remote=False))
            return
        self._execute(engine.answer(session_id, port, now))

    def hangup(self, session_id: str, cause: int) -> None:
        if self._waiting.pop(session_id, None) is not None:  # not dialled yet: nothing to end
            self._media.stop(session_id)
            return
        engine = self._engine
        try:
            if engine is not None:
                self._execute(engine.hangup(session_id, cause, self._clock.monotonic()))
        except Exception:
            log.exception("call %s could not be hung up cleanly", session_id)
        self._stop_media(session_id)

    def transfer(self, session_id: str, target: str) -> None:
        """Blind transfer by REFER (`TransfersCalls`); ValueError for a target SIP cannot name."""
        self._execute(self._started().transfer(session_id, target, self._clock.monotonic()))

    def hold(self, session_id: str) -> None:
        """Our hold (`HoldsCalls`): sendonly re-INVITE, music on hold; ValueError when the call
        cannot take an offer now."""
        self._execute(self._started().hold(session_id, self._clock.monotonic()))

    def resume(self, session_id: str) -> None:
        """Off our hold: the music stops, sendrecv re-INVITE; ValueError as for `hold`."""
        self._execute(self._started().resume(session_id, self._clock.monotonic()))

    def _started(self) -> CallControl:
        engine = self._engine
        if engine is None:
            raise ValueError("the SIP trunk is not started")
        return engine

    def send_audio(self, session_id: str, frame: bytes) -> None:
        self._media.send_audio(session_id, frame)

    def send_dtmf(self, session_id: str, digit: str, duration_ms: int) -> None:
        self._media.send_dtmf(session_id, digit, duration_ms)

    # --- the engine's outputs and its one timer -----------------------------------------------

    def _execute(self, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Send):
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("SIP to %s:\n%s", output.target, _head(output.data))
                self._transport.send(output)
            elif isinstance(output, MediaStart):
                self._media.apply(output)
            elif isinstance(output, MediaStop):
                self._stop_media(output.session_id)
            elif isinstance(output, MusicOnHold):
                self._media.music_on_hold(output.session_id, output.playing)
            else:
                if isinstance(output, TrunkHangup):
                    self._stop_media(output.session_id)  # its quality reaches the domain first
                self._emit(output)
        engine = self._engine
        if engine is None:
            return
        if self._idle is not None and engine.idle:
            self._idle.set()
        deadline = engine.next_deadline()
        if deadline is None or (self._timer is not None and self._timer_at <= deadline):
            return  # an earlier timer is armed; when it fires the deadline is read again
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        engine = self._engine
        if engine is None:
            return
        # A loop may wake a hair before the deadline (uvloop counts in milliseconds): never
        # earlier than the deadline as far as the engine is concerned, or it would spin.
        now = max(self._clock.monotonic(), self._timer_at)
        if self._hop is not None and self._hop.due():
            self._routed()  # a REGISTER refresh goes to the last targets while they are looked up
        try:
            self._execute(engine.expire(now))
        except Exception:
            log.exception("SIP timer handling failed")

    def _stop_media(self, session_id: str) -> None:
        """Close the call's RTP (if still open) and tell the domain what it measured."""
        stats = self._media.stop(session_id)
        if stats is not None:
            self._emit(TrunkMediaQuality(session_id, quality_of(stats)))

    def _emit(self, event: TrunkEvent) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            listener(event)
        except Exception:  # the domain's problem must not break SIP or media for other calls
            log.exception("trunk listener failed on %r", event)

    # --- callbacks from the transports --------------------------------------------------------

    def _on_message(self, data: bytes, source: Target) -> None:
        engine = self._engine
        if log.isEnabledFor(logging.DEBUG):
            log.debug("SIP from %s:\n%s", source, _head(data))
        if engine is not None:
            self._execute(engine.receive(data, source, self._clock.monotonic()))

    def _on_send_failed(self, key: TransactionKey) -> None:
        engine = self._engine
        if engine is not None:
            self._execute(engine.transport_failed(key, self._clock.monotonic()))

    def media_quality(self, session_id: str) -> MediaQuality | None:
        """`ReportsMediaQuality`: the RTP session's counters so far, as the CDR will read them."""
        stats = self._media.stats(session_id)
        return None if stats is None else quality_of(stats)

    def _on_media_dead(self, session_id: str, cause: int) -> None:
        engine = self._engine
        if engine is not None:
            # dead air: told first, then the BYE and the TrunkHangup of the timeout's cause
            self._emit(TrunkDeadAir(session_id, round(self.settings.rtp_timeout_s * 1000)))
            self._execute(engine.media_timeout(session_id, cause, self._clock.monotonic()))


def _tls_contexts(settings: SipTrunkSettings) -> tuple[ssl.SSLContext, ssl.SSLContext | None]:
    """The client context (verifies the trunk's certificate and name against `tls_ca_file` or the
    system's store) and, with our certificate, the listener's. OSError / ssl.SSLError name the
    file that cannot be read."""
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.tls_ca_file)
    server = None
    if settings.tls_cert_file is not None:
        client.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return client, server


def _head(data: bytes) -> str:
    """A message's header section, for the debug log."""
    return data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")


async def _located(resolver: TrunkResolver) -> Located:
    """The resolver's targets; OSError naming the host when it has none (a start-up error)."""
    try:
        return await resolver.locate()
    except LocateError as exc:
        raise OSError(f"SIP trunk host {exc}") from None


def _local_address(bind_host: str, toward: str) -> str:
    """The address to advertise: the bound one, or for a wildcard bind the local address the
    system would send from toward the trunk (a connected UDP socket sends nothing)."""
    if bind_host not in ("0.0.0.0", "::", ""):
        return bind_host
    family = socket.AF_INET6 if ":" in toward else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((toward, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1" if family == socket.AF_INET else "::1"


def quality_of(stats: RtpStats) -> MediaQuality:
    """The CDR's quality figures from the RTP session's counters."""
    return MediaQuality(
        rx_packets=stats.packets_in,
        rx_lost=stats.lost,
        rx_late=stats.late,
        rx_concealed=stats.concealed_frames,
        rx_jitter_ms=stats.jitter_ms,
        rx_underruns=stats.underruns,
        tx_packets=stats.packets_out,
    )
