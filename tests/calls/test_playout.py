"""The playout queue, tick by tick."""

from __future__ import annotations

import pytest

from callgate.calls.playout import Checkpoint, Playout, PlayoutFull


def frames(n: int, value: int = 1) -> bytes:
    return bytes([value]) * (320 * n)


def run(playout: Playout, ticks: int) -> list[tuple[bytes | None, list[Checkpoint]]]:
    return [playout.tick() for _ in range(ticks)]


def test_checkpoint_is_reached_when_the_last_frame_before_it_has_played() -> None:
    p = Playout(prebuffer_frames=0)
    p.push(frames(3))
    p.mark("end")
    out = run(p, 5)
    assert [f is not None for f, _ in out] == [True, True, True, False, False]
    # Frame 3 is sent on tick 3 and finishes playing 20 ms later, on tick 4.
    assert [cps for _, cps in out] == [[], [], [], [Checkpoint("end", "played")], []]


def test_checkpoints_keep_their_order_between_segments() -> None:
    p = Playout(prebuffer_frames=0)
    p.push(frames(1, 1))
    p.mark("a")
    p.push(frames(2, 2))
    p.mark("b")
    p.mark("c")
    out = run(p, 4)
    assert [[c.name for c in cps] for _, cps in out] == [[], ["a"], [], ["b", "c"]]


def test_a_checkpoint_on_an_empty_queue_is_reached_on_the_next_tick() -> None:
    p = Playout(prebuffer_frames=0)
    p.mark("now")
    assert p.tick() == (None, [Checkpoint("now", "played")])


def test_partial_frames_carry_over_and_a_checkpoint_completes_them_with_silence() -> None:
    p = Playout(prebuffer_frames=0)
    p.push(b"\x01" * 100)
    assert p.queued_ms == 6  # 100 of 320 bytes
    p.push(b"\x01" * 300)
    p.mark("x")
    first, _ = p.tick()
    second, _ = p.tick()
    assert first == b"\x01" * 320
    assert second == b"\x01" * 80 + bytes(240)
    assert p.tick() == (None, [Checkpoint("x", "played")])


def test_interrupt_reports_played_and_discarded_audio_and_clears_checkpoints() -> None:
    p = Playout(prebuffer_frames=0)
    p.push(frames(10))
    p.mark("half")
    p.push(frames(10))
    p.mark("end")
    run(p, 4)
    result = p.interrupt()
    assert (result.played_ms, result.discarded_ms) == (80, 320)
    assert result.cleared == (Checkpoint("half", "cleared"), Checkpoint("end", "cleared"))
    assert p.tick() == (None, [])
    assert p.queued_ms == 0


def test_no_audio_from_before_an_interruption_leaks_after_it() -> None:
    p = Playout(prebuffer_frames=0)
    p.push(b"\x07" * 500)  # one frame and a 180-byte partial
    p.interrupt()
    p.push(b"\x09" * 320)
    assert p.tick()[0] == b"\x09" * 320


def test_played_ms_counts_only_the_current_stretch() -> None:
    p = Playout(prebuffer_frames=0)
    p.push(frames(5))
    run(p, 8)  # played out, then silence
    p.push(frames(5))
    run(p, 2)
    assert p.interrupt().played_ms == 40


def test_queue_is_bounded_and_refuses_whole_pushes() -> None:
    p = Playout(max_frames=10, prebuffer_frames=0)
    p.push(frames(8))
    with pytest.raises(PlayoutFull, match="limit 200 ms"):
        p.push(frames(3))
    assert p.queued_ms == 160
    p.push(frames(2))
    assert p.queued_ms == 200


def test_idle_once_the_last_frame_has_played() -> None:
    p = Playout(prebuffer_frames=0)
    assert p.idle
    p.push(frames(1))
    assert not p.idle
    p.tick()
    assert not p.idle  # sent, still playing
    p.tick()
    assert p.idle


def test_a_thin_stretch_is_held_one_tick_so_jitter_leaves_no_hole() -> None:
    p = Playout(prebuffer_frames=1)
    p.push(frames(1, 1))
    assert p.tick() == (None, [])  # one frame only: wait a tick for the next
    p.push(frames(1, 2))
    assert p.tick()[0] == frames(1, 1)
    p.push(frames(1, 3))
    assert p.tick()[0] == frames(1, 2)  # the cushion stays: the next arrival may be late
    assert p.tick()[0] == frames(1, 3)
    assert p.tick()[0] is None


def test_a_lone_frame_is_not_held_forever() -> None:
    p = Playout(prebuffer_frames=1)
    p.push(frames(1, 1))
    assert p.tick()[0] is None
    assert p.tick()[0] == frames(1, 1)


def test_chunks_and_checkpoints_start_at_once() -> None:
    p = Playout(prebuffer_frames=1)
    p.push(frames(8))
    assert p.tick()[0] is not None
    q = Playout(prebuffer_frames=1)
    q.push(frames(1))
    q.mark("end")
    assert q.tick()[0] is not None
