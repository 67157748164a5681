"""A running `SipTrunk` on loopback, real time, with a recording listener in the domain's place.

`running_trunk()` starts one with test-friendly settings (127.0.0.1, a free SIP port, its own RTP
port range) and yields a `TrunkUnderTest`: every event is recorded, audio and digits per call,
`wait_for` is bounded, and a small stand-in for the domain plays a tone into any call (`play`),
answers inbound calls, and echoes their audio back, as the inbound echo app would.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from callgate.calls.trunk import (
    TrunkAnswered,
    TrunkAudio,
    TrunkDtmf,
    TrunkEvent,
    TrunkHangup,
    TrunkIncomingCall,
)
from callgate.clock import LoopClock, MediaTicker
from callgate.media.pcm import FRAME_BYTES
from callgate.media.signals import dominant_frequency_hz, sine_pcm16
from callgate.telephony.siptrunk import SipTrunk, SipTrunkSettings
from tests.support import free_port

WAIT_S = 10.0
E = TypeVar("E", bound=TrunkEvent)

# RTP ranges below Linux's ephemeral ports (32768+), where free_port() finds sipp's ports.
_RTP_SLOTS = 120
_next_slot = [random.randrange(_RTP_SLOTS)]


def rtp_range() -> tuple[int, int]:
    """A fresh 100-port RTP range per trunk, so two trunks in one run never share a port."""
    slot = _next_slot[0]
    _next_slot[0] = (slot + 1) % _RTP_SLOTS
    base = 20000 + 100 * slot
    return base, base + 98


class SteppedClock(LoopClock):
    """Real time plus an offset the test moves on: `step(60)` makes 60 s pass at once for every
    timer of the trunk (SIP and media alike), so a session timer lapses without a wait."""

    def __init__(self) -> None:
        super().__init__()
        self.offset_s = 0.0
        self._timers: set[_SteppedTimer] = set()

    def monotonic(self) -> float:
        return super().monotonic() + self.offset_s

    def call_at(self, when: float, callback: Callable[[], None]) -> _SteppedTimer:
        timer = _SteppedTimer(self, when, callback)
        self._timers.add(timer)
        timer.arm()
        return timer

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> _SteppedTimer:
        return self.call_at(self.monotonic() + delay_s, callback)

    def call_every(self, first_at: float, period_s: float, callback: Callable[[], None]) -> None:
        return None  # the ticker then arms each tick with call_at, which steps too

    def step(self, seconds: float) -> None:
        self.offset_s += seconds
        for timer in list(self._timers):
            timer.arm()


class _SteppedTimer:
    def __init__(self, clock: SteppedClock, when: float, callback: Callable[[], None]) -> None:
        self._clock, self._when, self._callback = clock, when, callback
        self._handle: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        loop = self._clock.loop
        delay = self._when - self._clock.monotonic()
        self._handle = loop.call_at(loop.time() + max(0.0, delay), self._fire)

    def _fire(self) -> None:
        self._clock._timers.discard(self)
        self._callback()

    def cancel(self) -> None:
        self._clock._timers.discard(self)
        if self._handle is not None:
            self._handle.cancel()


@dataclass
class TrunkUnderTest:
    trunk: SipTrunk
    clock: LoopClock
    ticker: MediaTicker
    events: list[TrunkEvent] = field(default_factory=list)
    audio: dict[str, bytearray] = field(default_factory=lambda: defaultdict(bytearray))
    digits: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    playing: dict[str, list[bytes]] = field(default_factory=dict)
    answer_after_s: float | None = 0.2
    echo_inbound: bool = True
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _inbound: set[str] = field(default_factory=set)
    _tick: int = 0

    @property
    def port(self) -> int:
        return self.trunk.local_port

    # --- the stand-in domain ----------------------------------------------------------------

    def on_event(self, event: TrunkEvent) -> None:
        if isinstance(event, TrunkAudio):
            self.audio[event.session_id] += event.frame
            if self.echo_inbound and event.session_id in self._inbound:
                self.trunk.send_audio(event.session_id, event.frame)
            return
        self.events.append(event)
        if isinstance(event, TrunkDtmf):
            self.digits[event.session_id].append(event.digit)
        if isinstance(event, TrunkIncomingCall):
            self._inbound.add(event.session_id)
            delay = self.answer_after_s
            if delay is not None:
                self.clock.call_later(delay, lambda: self.trunk.answer(event.session_id))
        if isinstance(event, TrunkHangup):
            self.playing.pop(event.session_id, None)
        self._changed.set()

    def play(self, session_id: str, freq_hz: float) -> None:
        """Send a tone into the call, one frame per tick, as the domain's playout does."""
        tone = sine_pcm16(freq_hz, 1.0, level_dbfs=-12.0)
        self.playing[session_id] = [
            tone[i : i + FRAME_BYTES] for i in range(0, len(tone), FRAME_BYTES)
        ]

    def _on_tick(self, tick_no: int) -> None:
        self._tick += 1
        for session_id, frames in self.playing.items():
            self.trunk.send_audio(session_id, frames[self._tick % len(frames)])

    # --- waiting and looking ----------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[], Any], what: str, timeout_s: float = WAIT_S
    ) -> Any:
        deadline = self.clock.monotonic() + timeout_s
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; events: {self.events}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.1))

    def of(self, kind: type[E], session_id: str | None = None) -> list[E]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (session_id is None or e.session_id == session_id)
        ]

    async def answered(self, session_id: str, timeout_s: float = WAIT_S) -> TrunkAnswered:
        found = await self.wait_for(
            lambda: self.of(TrunkAnswered, session_id) or self.of(TrunkHangup, session_id),
            f"{session_id} answered",
            timeout_s,
        )
        assert isinstance(found[0], TrunkAnswered), f"not answered: {found}"
        return found[0]

    async def hangup(self, session_id: str, timeout_s: float = WAIT_S) -> TrunkHangup:
        found = await self.wait_for(
            lambda: self.of(TrunkHangup, session_id), f"{session_id} hung up", timeout_s
        )
        hangup: TrunkHangup = found[0]
        return hangup

    async def incoming(self, timeout_s: float = WAIT_S) -> TrunkIncomingCall:
        found = await self.wait_for(
            lambda: self.of(TrunkIncomingCall), "an inbound call", timeout_s
        )
        call: TrunkIncomingCall = found[0]
        return call

    async def drained(self, timeout_s: float = WAIT_S) -> None:
        """Wait until the engine has forgotten every call (BYEs answered, CANCELs done)."""
        await self.wait_for(lambda: len(self.trunk.engine) == 0, "no calls left", timeout_s)

    def tone_hz(self, session_id: str) -> float:
        """The dominant frequency of the call's received audio, over its non-silent frames."""
        samples = np.frombuffer(bytes(self.audio[session_id]), dtype="<i2")
        frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
        loud = frames[np.abs(frames).max(axis=1) > 1000]
        assert loud.size >= 1600, f"only {loud.size} loud samples received"
        return dominant_frequency_hz(loud.ravel().tobytes())


@contextlib.asynccontextmanager
async def running_trunk(
    trunk_port: int | None,
    trunk_host: str = "127.0.0.1",
    *,
    clock: LoopClock | None = None,
    **overrides: Any,
) -> AsyncIterator[TrunkUnderTest]:
    low, high = rtp_range()
    values: dict[str, Any] = {
        "host": trunk_host,
        "port": trunk_port,
        "bind_host": "127.0.0.1",
        "bind_port": free_port(),
        "rtp_port_min": low,
        "rtp_port_max": high,
    }
    values.update(overrides)
    settings = SipTrunkSettings(**values)
    clock = clock or LoopClock()
    ticker = MediaTicker(clock)
    trunk = SipTrunk(settings, clock, ticker)
    harness = TrunkUnderTest(trunk, clock, ticker)
    unsubscribe = ticker.subscribe(harness._on_tick)  # before the trunk's, as the domain's is
    await trunk.start(harness.on_event)
    try:
        yield harness
    finally:
        await trunk.stop()
        unsubscribe()
        ticker.stop()
