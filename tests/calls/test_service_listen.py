"""callQuality and deadAir in the call domain, on a hand-stepped clock with the simulated carrier."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callgate.calls.events import DialStatusChanged, Listened
from callgate.calls.quality import PACKET_MS, mos_from
from callgate.calls.trunk import TrunkDeadAir
from callgate.listen.options import ListenOptions
from tests.calls.test_service import World, make_world

NUMBER = "089608675796"  # answers after 2 s, talks (DEFAULT_SCRIPTS)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = await make_world()
    yield w
    await w.service.stop()
    await w.recorder.stop()


def heard(world: World, name: str) -> list[Listened]:
    return [e for e in world.events if isinstance(e, Listened) and e.event == name]


async def test_call_quality_comes_every_interval_from_the_answer(world: World) -> None:
    at: list[float] = []  # when each report came
    connected: list[float] = []

    def when(event: object) -> None:
        if isinstance(event, Listened) and event.event == "callQuality":
            at.append(world.clock.monotonic())
        elif isinstance(event, DialStatusChanged) and event.status == "Connected":
            connected.append(world.clock.monotonic())

    world.service.bus.subscribe(when)
    listen = ListenOptions(call_quality=True, quality_every_ms=1000)
    call = await world.service.place_call("acme", NUMBER, listen=listen)
    world.clock.advance(2.0)
    assert call.answered
    (answered_at,) = connected
    world.clock.advance(3.5)
    reports = heard(world, "callQuality")
    assert len(reports) == 3
    # every 50th frame of the call (within the frame the answer came in)
    after_ms = [round((t - answered_at) * 1000) for t in at]
    assert all(abs(ms - 1000 * (n + 1)) <= PACKET_MS for n, ms in enumerate(after_ms)), after_ms
    assert all(r.to_all and r.session_id == call.session_id for r in reports)
    clean = mos_from(0.0, PACKET_MS + 40.0)
    assert [r.fields for r in reports] == [
        {"lossPct": 0.0, "jitterMs": 0.0, "rttMs": None, "mos": clean}
    ] * 3
    world.service.hangup("acme", call.session_id)
    record = await world.final(call.session_id)
    assert record.quality is not None
    assert record.quality.mos == clean  # the CDR reads the same figures


async def test_no_call_quality_or_dead_air_unless_asked(world: World) -> None:
    plain = await world.service.place_call("acme", NUMBER)
    speech_only = await world.service.place_call("acme", NUMBER, listen=ListenOptions())
    world.clock.advance(12.0)
    for call in (plain, speech_only):
        world.service.handle_trunk_event(TrunkDeadAir(call.session_id, 1000))
    assert heard(world, "callQuality") == []
    assert heard(world, "deadAir") == []


async def test_dead_air_is_told_for_a_connected_call_that_asked(world: World) -> None:
    listen = ListenOptions(dead_air=True)
    ringing = await world.service.place_call("acme", NUMBER, listen=listen)
    world.service.handle_trunk_event(TrunkDeadAir(ringing.session_id, 1000))
    assert heard(world, "deadAir") == []  # not answered yet: no media to die
    world.clock.advance(2.0)
    world.service.handle_trunk_event(TrunkDeadAir(ringing.session_id, 1000))
    (told,) = heard(world, "deadAir")
    assert (told.session_id, told.fields, told.to_all) == (ringing.session_id, {"ms": 1000}, True)
