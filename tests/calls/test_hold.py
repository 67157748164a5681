"""Hold in the call domain on a hand-stepped clock: the playout stands still while either party
holds the call, and plays on from where it stopped; the bot's own hold asks the trunk."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callgate.calls.bus import EventBus
from callgate.calls.events import BusEvent, CheckpointReached, HoldBy, HoldChanged, HoldFailed
from callgate.calls.recorder import Recorder
from callgate.calls.service import CallService, CallSettings, CommandError
from callgate.calls.trunk import TrunkHold, TrunkHoldFailed
from callgate.clock import ManualClock, MediaTicker
from callgate.listen.listener import Outcome, Signal
from callgate.listen.options import parse_listen
from callgate.media.pcm import SILENCE_FRAME
from callgate.telephony.simulated import DEFAULT_SCRIPTS, SimulatedCarrier
from tests.fakes import MemoryStore

ACCOUNT = "acme"
TONE = b"\x01\x00" * 160  # one 20 ms frame that is not silence


class HoldingCarrier(SimulatedCarrier):
    """The simulated carrier, able to hold (`HoldsCalls`): it records what it was asked and
    what the domain sent, and refuses when told to."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.asked: list[tuple[str, str]] = []
        self.sent: list[bytes] = []
        self.refuse: str | None = None

    def hold(self, session_id: str) -> None:
        self._ask("hold", session_id)

    def resume(self, session_id: str) -> None:
        self._ask("resume", session_id)

    def _ask(self, what: str, session_id: str) -> None:
        if self.refuse is not None:
            raise ValueError(self.refuse)
        self.asked.append((what, session_id))

    def send_audio(self, session_id: str, frame: bytes) -> None:
        self.sent.append(frame)
        super().send_audio(session_id, frame)


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        ticker = MediaTicker(self.clock)
        self.carrier = HoldingCarrier(self.clock, ticker, DEFAULT_SCRIPTS)
        self.recorder = Recorder(MemoryStore(), self.clock, node="test")
        bus = EventBus()
        settings = CallSettings(node="test", no_client_grace_s=0.0, playout_prebuffer_ms=0)
        self.service = CallService(self.carrier, self.clock, ticker, bus, self.recorder, settings)
        self.events: list[BusEvent] = []
        bus.subscribe(self.events.append, (CheckpointReached, HoldChanged, HoldFailed))

    def seen(self) -> list[BusEvent]:
        seen, self.events[:] = list(self.events), []
        return seen

    def ticks(self, count: int) -> list[bytes]:
        """`count` media ticks (20 ms each); the frames the domain sent meanwhile."""
        before = len(self.carrier.sent)
        for _ in range(count):
            self.clock.advance(0.02)
        return self.carrier.sent[before:]

    async def connected(self) -> str:
        call = await self.service.place_call(ACCOUNT, "0811")
        self.clock.advance(2.0)  # the default script answers in about two seconds
        assert call.answered
        self.carrier.sent.clear()
        return call.session_id


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = World()
    w.recorder.start()
    await w.service.start()
    yield w
    await w.service.stop()
    await w.recorder.stop()


def loud(frames: list[bytes]) -> int:
    return sum(frame != SILENCE_FRAME for frame in frames)


@pytest.mark.parametrize("by_remote", [True, False], ids=["far-end", "bot"])
async def test_the_playout_stands_still_on_hold_and_plays_on_after(
    world: World, by_remote: bool
) -> None:
    sid = await world.connected()
    world.service.push_audio(ACCOUNT, sid, TONE * 10, "pcm16")
    world.service.checkpoint(ACCOUNT, sid, "said")
    assert loud(world.ticks(3)) == 3
    if by_remote:
        world.service.handle_trunk_event(TrunkHold(sid, held=True, by_remote=True))
    else:
        assert world.service.hold(ACCOUNT, sid) == 140  # the ack's queuedMs: 7 frames left
        assert world.carrier.asked == [("hold", sid)]
        world.service.handle_trunk_event(TrunkHold(sid, held=True, by_remote=False))
    by: HoldBy = "remote" if by_remote else "local"
    assert world.seen() == [HoldChanged(sid, ACCOUNT, True, by)]
    held = world.ticks(250)  # five seconds on hold: nothing of the queue goes, nothing is lost
    assert len(held) == 250
    assert loud(held) == 0
    assert world.seen() == []
    assert world.service.find(ACCOUNT, sid).playout.queued_ms == 140
    if by_remote:
        world.service.handle_trunk_event(TrunkHold(sid, held=False, by_remote=True))
    else:
        assert world.service.resume(ACCOUNT, sid) == 140
        assert world.carrier.asked[-1] == ("resume", sid)
        world.service.handle_trunk_event(TrunkHold(sid, held=False, by_remote=False))
    assert world.seen() == [HoldChanged(sid, ACCOUNT, False, by)]
    # The seven frames left, then the checkpoint one tick after the last: as without the hold.
    after = world.ticks(7)
    assert loud(after) == 7
    assert world.seen() == []
    world.ticks(1)
    assert world.seen() == [CheckpointReached(sid, ACCOUNT, "said", "played")]


async def test_audio_sent_on_hold_waits_in_the_queue(world: World) -> None:
    sid = await world.connected()
    world.service.handle_trunk_event(TrunkHold(sid, held=True, by_remote=True))
    assert world.service.push_audio(ACCOUNT, sid, TONE * 5, "pcm16") == 100
    assert loud(world.ticks(50)) == 0
    world.service.handle_trunk_event(TrunkHold(sid, held=False, by_remote=True))
    assert loud(world.ticks(10)) == 5


async def test_a_repeated_far_end_hold_is_reported_once(world: World) -> None:
    sid = await world.connected()
    world.service.handle_trunk_event(TrunkHold(sid, held=True, by_remote=True))
    world.service.handle_trunk_event(TrunkHold(sid, held=True, by_remote=True))
    assert world.seen() == [HoldChanged(sid, ACCOUNT, True, "remote")]


async def test_both_holding_the_call_plays_on_only_when_both_let_go(world: World) -> None:
    sid = await world.connected()
    world.service.push_audio(ACCOUNT, sid, TONE * 20, "pcm16")
    world.service.handle_trunk_event(TrunkHold(sid, held=True, by_remote=True))
    world.service.hold(ACCOUNT, sid)
    world.service.handle_trunk_event(TrunkHold(sid, held=False, by_remote=True))
    assert loud(world.ticks(10)) == 0  # we still hold it
    world.service.resume(ACCOUNT, sid)
    assert loud(world.ticks(10)) == 10


async def test_a_refused_hold_plays_on_and_says_so(world: World) -> None:
    sid = await world.connected()
    world.service.push_audio(ACCOUNT, sid, TONE * 20, "pcm16")
    world.service.hold(ACCOUNT, sid)
    assert loud(world.ticks(5)) == 0  # held from the command on
    world.service.handle_trunk_event(TrunkHoldFailed(sid, held=True, sip_status=488))
    assert world.seen() == [HoldFailed(sid, ACCOUNT, "hold", 488)]
    assert loud(world.ticks(5)) == 5
    world.service.resume(ACCOUNT, sid)  # not held: only the barge-in resume, no re-INVITE
    assert world.carrier.asked == [("hold", sid)]


async def test_hold_refusals_change_nothing(world: World) -> None:
    call = await world.service.place_call(ACCOUNT, "0811")
    with pytest.raises(CommandError, match="not answered"):
        world.service.hold(ACCOUNT, call.session_id)
    world.clock.advance(2.0)
    sid = call.session_id
    world.service.hold(ACCOUNT, sid)
    with pytest.raises(CommandError, match="on hold already"):
        world.service.hold(ACCOUNT, sid)
    world.carrier.refuse = "another offer is in progress"
    with pytest.raises(CommandError, match="another offer"):
        world.service.resume(ACCOUNT, sid)
    assert world.service.find(ACCOUNT, sid).held_by_us  # still held
    assert world.carrier.asked == [("hold", sid)]


async def test_a_call_on_the_simulated_carrier_cannot_be_held() -> None:
    clock = ManualClock()
    ticker = MediaTicker(clock)
    carrier = SimulatedCarrier(clock, ticker, DEFAULT_SCRIPTS)
    recorder = Recorder(MemoryStore(), clock, node="test")
    recorder.start()
    service = CallService(
        carrier, clock, ticker, EventBus(), recorder, CallSettings(node="t", no_client_grace_s=0)
    )
    await service.start()
    call = await service.place_call(ACCOUNT, "0811")
    clock.advance(2.0)
    with pytest.raises(CommandError, match="not a SIP call"):
        service.hold(ACCOUNT, call.session_id)
    await service.stop()
    await recorder.stop()


async def test_speech_on_hold_does_not_barge_in_on_the_queue(world: World) -> None:
    sid = await world.connected()
    call = world.service.find(ACCOUNT, sid)
    call.listen = parse_listen({"bargeIn": "auto"})
    world.service.push_audio(ACCOUNT, sid, TONE * 20, "pcm16")
    world.ticks(5)  # playing: a barge-in now would clear the queue
    world.service.hold(ACCOUNT, sid)
    world.service._listened(call, Outcome(signal=Signal.CONFIRMED, at_ms=100))
    assert call.playout.queued_ms == 300  # nothing discarded
    world.service.resume(ACCOUNT, sid)
    assert loud(world.ticks(15)) == 15
