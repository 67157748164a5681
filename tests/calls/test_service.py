"""The call domain driven by the simulated carrier on a hand-stepped clock: every way a call ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from callgate.calls.bus import EventBus
from callgate.calls.events import (
    AudioReceived,
    BusEvent,
    CallCreated,
    CallFinished,
    CheckpointReached,
    DialStatusChanged,
    DtmfReceived,
)
from callgate.calls.recorder import Recorder
from callgate.calls.records import CallRecord
from callgate.calls.service import CallNotFound, CallService, CallSettings, CommandError
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
    events: list[BusEvent] = field(default_factory=list)

    def statuses(self, session_id: str) -> list[str]:
        return [
            e.status
            for e in self.events
            if isinstance(e, DialStatusChanged) and e.session_id == session_id
        ]

    async def final(self, session_id: str) -> CallRecord:
        await self.recorder.flush()
        return self.store.rows[session_id]


async def make_world(scripts: tuple[CalleeScript, ...] = DEFAULT_SCRIPTS, **settings: Any) -> World:
    clock = ManualClock()
    ticker = MediaTicker(clock)
    carrier = SimulatedCarrier(clock, ticker, scripts)
    store = MemoryStore()
    recorder = Recorder(store, clock, node="test")
    recorder.start()
    bus = EventBus()
    settings.setdefault("no_client_grace_s", 0.0)
    settings.setdefault("playout_prebuffer_ms", 0)
    service = CallService(
        carrier, clock, ticker, bus, recorder, CallSettings(node="test", **settings)
    )
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
    assert isinstance(world.events[-1], CallFinished)
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
    world.service.push_audio("acme", call.session_id, frame, "pcm16")
    world.clock.advance(0.02)  # played on this tick, echoed on the next
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
    with pytest.raises(CommandError, match="connected"):
        world.service.send_dtmf("acme", call.session_id, "1", 200)
    world.clock.advance(2.0)
    with pytest.raises(CommandError, match="digit"):
        world.service.send_dtmf("acme", call.session_id, "E", 200)
    with pytest.raises(CommandError, match="duration"):
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


def checkpoints(world: World) -> list[tuple[str, str]]:
    return [(e.name, e.status) for e in world.events if isinstance(e, CheckpointReached)]


async def test_audio_queued_while_ringing_plays_from_the_answer(world: World) -> None:
    call = await world.service.place_call("acme", "0811")
    sid = call.session_id
    assert world.service.push_audio("acme", sid, b"\x01\x00" * 1600, "pcm16") == 200
    world.service.checkpoint("acme", sid, "greeting")
    world.clock.advance(1.99)
    assert world.carrier.audio_heard_frames.get(sid, 0) == 0
    heard_at: list[int] = []
    step = 0
    for step in range(30):  # noqa: B007 - `step` is read after the loop
        world.clock.advance(0.01)
        heard_at.append(world.carrier.audio_heard_frames.get(sid, 0))
        if checkpoints(world):
            break
    # Ten frames play on ten consecutive ticks from the answer; the checkpoint comes one tick
    # (two 10 ms steps) after the tenth frame went out.
    assert checkpoints(world) == [("greeting", "played")]
    tenth = heard_at.index(10)
    assert step - tenth == 2
    assert world.carrier.audio_heard_frames[sid] == 11  # the 11th frame is silence


async def test_hangup_after_playout_waits_for_the_goodbye() -> None:
    w = await make_world()
    call = await w.service.place_call("acme", "0811")
    w.clock.advance(2.0)
    w.service.push_audio("acme", call.session_id, bytes(320 * 50), "pcm16")  # 1 s goodbye
    w.service.hangup("acme", call.session_id, after_playout=True)
    with pytest.raises(CommandError, match="hanging up"):
        w.service.push_audio("acme", call.session_id, bytes(320), "pcm16")
    w.clock.advance(1.0)
    assert not call.ended  # the last frame went out on this tick and is still playing
    w.clock.advance(0.02)
    assert call.ended
    record = await w.final(call.session_id)
    assert (record.disposition, record.hangup_by, record.billable_seconds) == (
        "ANSWERED",
        "CALLER",
        1,
    )
    await w.service.stop()
    await w.recorder.stop()


async def test_hangup_after_playout_is_capped() -> None:
    w = await make_world(drain_cap_s=0.5)
    call = await w.service.place_call("acme", "0811")
    w.clock.advance(2.0)
    w.service.push_audio("acme", call.session_id, bytes(320 * 100), "pcm16")
    w.service.hangup("acme", call.session_id, after_playout=True)
    w.clock.advance(0.48)
    assert not call.ended
    w.clock.advance(0.04)
    assert call.ended
    await w.service.stop()
    await w.recorder.stop()


async def test_hangup_after_playout_with_nothing_queued_is_immediate(world: World) -> None:
    call = await world.service.place_call("acme", "0811")
    world.clock.advance(2.0)
    world.service.hangup("acme", call.session_id, after_playout=True)
    assert call.ended


async def test_interruption_stops_playout_and_clears_checkpoints(world: World) -> None:
    call = await world.service.place_call("acme", "0811")
    sid = call.session_id
    world.clock.advance(2.0)
    world.service.push_audio("acme", sid, bytes(320 * 25), "pcm16")
    world.service.checkpoint("acme", sid, "first")
    world.service.push_audio("acme", sid, bytes(320 * 25), "pcm16")
    world.service.checkpoint("acme", sid, "second")
    world.clock.advance(0.6)  # 30 frames played: "first" reached
    result = world.service.interrupt("acme", sid)
    assert (result.played_ms, result.discarded_ms) == (600, 400)
    assert checkpoints(world) == [("first", "played"), ("second", "cleared")]
    sent = world.carrier.audio_heard_frames[sid]
    world.clock.advance(0.1)
    assert world.carrier.audio_heard_frames[sid] == sent + 5  # silence continues, line never mute


async def test_unknown_format_and_undecodable_audio_are_refused(world: World) -> None:
    call = await world.service.place_call("acme", "0811")
    with pytest.raises(CommandError, match="wav"):
        world.service.push_audio("acme", call.session_id, b"RIFF", "wav")
    with pytest.raises(CommandError):
        world.service.push_audio("acme", call.session_id, b"\x00" * 256 * 1024, "mp3")


async def test_playout_queue_is_bounded() -> None:
    w = await make_world(playout_max_s=1.0)
    call = await w.service.place_call("acme", "0811")
    w.service.push_audio("acme", call.session_id, bytes(320 * 40), "pcm16")
    with pytest.raises(CommandError, match="full"):
        w.service.push_audio("acme", call.session_id, bytes(320 * 20), "pcm16")
    await w.service.stop()
    await w.recorder.stop()


async def test_a_call_nobody_follows_is_hung_up_after_the_grace_period() -> None:
    w = await make_world(no_client_grace_s=60.0)
    call = await w.service.place_call("acme", "0811")
    w.clock.advance(59.9)
    assert not call.ended
    w.clock.advance(0.1)
    record = await w.final(call.session_id)
    assert (record.disposition, record.hangup_cause_code, record.hangup_by) == (
        "ANSWERED",
        102,
        None,
    )
    await w.service.stop()
    await w.recorder.stop()


async def test_grace_period_restarts_when_the_last_client_leaves() -> None:
    w = await make_world(no_client_grace_s=10.0)
    call = await w.service.place_call("acme", "0811")
    w.service.attach(call)
    w.clock.advance(30.0)
    assert not call.ended
    w.service.detach(call)
    w.clock.advance(5.0)
    w.service.attach(call)  # a reconnecting client rejoins in time
    w.clock.advance(30.0)
    assert not call.ended
    w.service.detach(call)
    w.clock.advance(10.0)
    assert call.ended
    await w.service.stop()
    await w.recorder.stop()
