"""The call domain driven by the simulated carrier on a hand-stepped clock: every way a call ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from callgate.calls.bus import EventBus
from callgate.calls.events import (
    AudioReceived,
    CallCreated,
    CallEnded,
    CallEvent,
    DialStatusChanged,
    DtmfReceived,
)
from callgate.calls.recorder import Recorder
from callgate.calls.records import CallRecord
from callgate.calls.service import CallNotFound, CallService, CallSettings
from callgate.clock import ManualClock, MediaTicker
from callgate.telephony.simulated import DEFAULT_SCRIPTS, CalleeScript, SimulatedCarrier
from tests.fakes import MemoryStore


@dataclass
class World:
    clock: ManualClock
    carrier: SimulatedCarrier
    store: MemoryStore
    recorder: Recorder
    service: CallService
    events: list[CallEvent] = field(default_factory=list)

    def statuses(self, session_id: str) -> list[str]:
        return [
            e.status
            for e in self.events
            if isinstance(e, DialStatusChanged) and e.session_id == session_id
        ]

    async def final(self, session_id: str) -> CallRecord:
        await self.recorder.flush()
        return self.store.rows[session_id]


async def make_world(
    scripts: tuple[CalleeScript, ...] = DEFAULT_SCRIPTS, **settings: float
) -> World:
    clock = ManualClock()
    ticker = MediaTicker(clock)
    carrier = SimulatedCarrier(clock, ticker, scripts)
    store = MemoryStore()
    recorder = Recorder(store, clock, node="test")
    recorder.start()
    bus = EventBus()
    service = CallService(carrier, clock, bus, recorder, CallSettings(node="test", **settings))
    world = World(clock, carrier, store, recorder, service)
    bus.subscribe(world.events.append)
    await service.start()
    return world


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = await make_world()
    yield w
    await w.service.stop()
    await w.recorder.stop()


async def test_answered_call_hung_up_by_the_app(world: World) -> None:
    call = await world.service.place_call("acme", "089608675796")
    sid = call.session_id
    assert world.store.rows[sid].end_time is None  # recorded before it was dialled
    world.clock.advance(2.0)
    assert world.statuses(sid) == ["Dialing", "Ringing", "Connected"]
    world.clock.advance(10.0)
    world.service.hangup("acme", sid)
    record = await world.final(sid)
    assert record.disposition == "ANSWERED"
    assert record.hangup_by == "CALLER"
    assert record.hangup_cause_code == 16
    assert record.duration == 12
    assert record.billable_seconds == 10
    assert record.to_json()["hangupCauseText"] == "Call completed successfully"
    assert isinstance(world.events[0], CallCreated)
    assert isinstance(world.events[-1], CallEnded)
    with pytest.raises(CallNotFound):
        world.service.hangup("acme", sid)


@pytest.mark.parametrize(
    ("number", "wait_s", "disposition", "cause", "statuses"),
    [
        ("0811234486", 1.0, "BUSY", 17, ["Dialing", "Ringing", "Busy"]),
        ("0811234603", 1.0, "BUSY", 21, ["Dialing", "Ringing", "Busy"]),
        ("0811234404", 0.2, "FAILED", 1, ["Dialing", "Ringing"]),
        ("0811234503", 0.2, "FAILED", 34, ["Dialing", "Ringing"]),
        ("0811234480", 60.0, "NO ANSWER", 19, ["Dialing", "Ringing"]),
    ],
)
async def test_unanswered_outcomes(
    world: World, number: str, wait_s: float, disposition: str, cause: int, statuses: list[str]
) -> None:
    call = await world.service.place_call("acme", number)
    world.clock.advance(wait_s - 0.01)
    assert not call.ended
    world.clock.advance(0.01)
    assert call.ended
    record = await world.final(call.session_id)
    assert (record.disposition, record.hangup_cause_code, record.hangup_by) == (
        disposition,
        cause,
        None,
    )
    assert record.answer_time is None
    assert record.billable_seconds == 0
    assert record.duration == int(wait_s)
    assert world.statuses(call.session_id) == statuses


async def test_cancel_before_answer(world: World) -> None:
    call = await world.service.place_call("acme", "0811234480")
    world.clock.advance(5.0)
    world.service.hangup("acme", call.session_id)
    record = await world.final(call.session_id)
    assert (record.disposition, record.hangup_by, record.hangup_cause_code) == (
        "CANCEL",
        "CALLER",
        16,
    )


async def test_callee_hangs_up_after_script_time() -> None:
    script = CalleeScript(r"555\d+", ring_s=1.0, hangup_after_s=3.0, dtmf=((0.5, "7"),))
    w = await make_world((script, *DEFAULT_SCRIPTS))
    call = await w.service.place_call("acme", "5551234")
    w.clock.advance(1.5)
    assert [e.digit for e in w.events if isinstance(e, DtmfReceived)] == ["7"]
    w.clock.advance(2.5)
    record = await w.final(call.session_id)
    assert (record.disposition, record.hangup_by, record.hangup_cause_code) == (
        "ANSWERED",
        "CALLEE",
        16,
    )
    assert (record.duration, record.billable_seconds) == (4, 3)
    await w.service.stop()
    await w.recorder.stop()


async def test_maximum_duration_ends_the_call() -> None:
    w = await make_world(max_call_duration_s=30.0)
    call = await w.service.place_call("acme", "0811")
    w.clock.advance(2.0 + 29.98)
    assert not call.ended
    w.clock.advance(0.02)
    record = await w.final(call.session_id)
    assert (record.disposition, record.hangup_by, record.billable_seconds) == ("ANSWERED", None, 30)
    await w.service.stop()
    await w.recorder.stop()


async def test_echo_callee_returns_audio_and_digits(world: World) -> None:
    call = await world.service.place_call("acme", "0811")
    world.clock.advance(2.0)
    frame = bytes(range(256)) + bytes(64)
    world.service.send_audio(call, frame)
    world.clock.advance(0.02)
    heard = [e.frame for e in world.events if isinstance(e, AudioReceived)]
    assert heard[-1] == frame
    world.clock.advance(0.02)
    heard = [e.frame for e in world.events if isinstance(e, AudioReceived)]
    assert heard[-1] == bytes(320)  # silence once the caller is quiet: the line is never mute
    world.service.send_dtmf("acme", call.session_id, "5", 200)
    assert world.carrier.dtmf_heard[call.session_id] == ["5"]
    world.clock.advance(0.31)
    assert [e.digit for e in world.events if isinstance(e, DtmfReceived)] == ["5"]


async def test_audio_frames_arrive_every_20ms_while_connected(world: World) -> None:
    call = await world.service.place_call("acme", "0811")
    world.clock.advance(2.0)
    before = sum(1 for e in world.events if isinstance(e, AudioReceived))
    world.clock.advance(1.0)
    after = sum(1 for e in world.events if isinstance(e, AudioReceived))
    assert after - before == 50
    assert all(
        len(e.frame) == 320 and e.session_id == call.session_id
        for e in world.events
        if isinstance(e, AudioReceived)
    )


async def test_dtmf_validation(world: World) -> None:
    call = await world.service.place_call("acme", "0811")
    with pytest.raises(ValueError, match="connected"):
        world.service.send_dtmf("acme", call.session_id, "1", 200)
    world.clock.advance(2.0)
    with pytest.raises(ValueError, match="digit"):
        world.service.send_dtmf("acme", call.session_id, "E", 200)
    with pytest.raises(ValueError, match="duration"):
        world.service.send_dtmf("acme", call.session_id, "1", 1001)
    with pytest.raises(CallNotFound):
        world.service.send_dtmf("other", call.session_id, "1", 200)


async def test_accounts_do_not_see_each_others_calls(world: World) -> None:
    call = await world.service.place_call("acme", "0811")
    assert world.service.live("other") == []
    with pytest.raises(CallNotFound):
        world.service.hangup("other", call.session_id)
    assert not call.ended


async def test_stop_closes_every_live_call() -> None:
    w = await make_world()
    answered = await w.service.place_call("acme", "0811")
    w.clock.advance(2.0)
    ringing = await w.service.place_call("acme", "0811234480")
    await w.service.stop()
    await w.recorder.flush()
    assert w.store.rows[answered.session_id].disposition == "ANSWERED"
    assert w.store.rows[ringing.session_id].disposition == "CANCEL"
    assert w.store.rows[ringing.session_id].hangup_by is None
    await w.recorder.stop()
