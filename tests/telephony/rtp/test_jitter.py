"""The jitter buffer: reordering, loss, late and duplicate packets, wraparound, SSRC change, bounds."""

from __future__ import annotations

import random

from callgate.telephony.rtp import JitterBuffer

SSRC = 0x1234


def buffer(target: int = 3, capacity: int = 10, drift_window: int = 50) -> JitterBuffer[int]:
    return JitterBuffer(target, capacity, drift_window)


def pops(jitter: JitterBuffer[int], count: int) -> list[int | None]:
    return [jitter.pop() for _ in range(count)]


def test_play_out_starts_at_target_depth_and_keeps_order() -> None:
    jitter = buffer(target=3)
    results = []
    for seq in range(100, 110):
        jitter.push(SSRC, seq, seq)
        results.append(jitter.pop())
    assert results == [None, None, *range(100, 108)]
    assert jitter.depth_frames == 2


def test_reordered_packets_play_in_order() -> None:
    jitter = buffer()
    for seq in (3, 1, 2, 6, 4, 5):
        jitter.push(SSRC, seq, seq)
    assert pops(jitter, 6) == [1, 2, 3, 4, 5, 6]


def test_reordering_before_play_out_moves_the_start_back() -> None:
    jitter = buffer(target=3)
    for seq in (12, 11):
        jitter.push(SSRC, seq, seq)
    jitter.push(SSRC, 10, 10)
    assert pops(jitter, 3) == [10, 11, 12]


def test_loss_gives_a_gap_and_a_late_packet_is_dropped() -> None:
    jitter = buffer()
    for seq in (1, 2, 3, 5, 6):
        jitter.push(SSRC, seq, seq)
    assert pops(jitter, 4) == [1, 2, 3, None]
    assert jitter.lost == 1
    assert not jitter.push(SSRC, 4, 4)  # its turn has passed
    assert jitter.late == 1
    assert pops(jitter, 2) == [5, 6]


def test_late_but_still_ahead_of_play_out_is_kept() -> None:
    jitter = buffer()
    for seq in (1, 2, 3, 5):
        jitter.push(SSRC, seq, seq)
    assert pops(jitter, 2) == [1, 2]
    assert jitter.push(SSRC, 4, 4)
    assert pops(jitter, 3) == [3, 4, 5]
    assert jitter.lost == 0


def test_duplicates_are_dropped() -> None:
    jitter = buffer()
    for seq in (1, 2, 2, 3, 1):
        jitter.push(SSRC, seq, seq)
    assert jitter.duplicates == 2
    assert pops(jitter, 4) == [1, 2, 3, None]


def test_duplicate_of_a_played_packet_counts_as_late() -> None:
    jitter = buffer()
    for seq in (1, 2, 3):
        jitter.push(SSRC, seq, seq)
    jitter.pop()
    assert not jitter.push(SSRC, 1, 1)
    assert jitter.late == 1


def test_sequence_wraparound() -> None:
    jitter = buffer()
    seqs = [65533, 65534, 65535, 0, 1, 2, 3]
    for seq in (65534, 65533, 0, 65535, 2, 1, 3):
        jitter.push(SSRC, seq, seq)
    assert pops(jitter, 7) == seqs


def test_ssrc_change_resets() -> None:
    jitter = buffer(target=2)
    for seq in (500, 501, 502):
        jitter.push(SSRC, seq, seq)
    assert jitter.pop() == 500
    for seq in (7, 8):
        jitter.push(0x9999, seq, seq)  # the peer restarted its stream: new numbering
    assert jitter.ssrc_changes == 1
    assert jitter.overflow == 2  # 501 and 502 were dropped with the old stream
    assert pops(jitter, 2) == [7, 8]


def test_underrun_rebuffers_without_losing_the_stream() -> None:
    jitter = buffer(target=2)
    for seq in (1, 2):
        jitter.push(SSRC, seq, seq)
    assert pops(jitter, 2) == [1, 2]
    # The peer paused (or the network held packets back): nothing to play.
    assert pops(jitter, 5) == [None] * 5
    assert jitter.underruns == 1
    assert not jitter.playing
    # Packet 3 comes after all: not late, since nothing after it has been played.
    jitter.push(SSRC, 3, 3)
    assert jitter.pop() is None  # rebuilding the slack
    jitter.push(SSRC, 4, 4)
    assert pops(jitter, 2) == [3, 4]
    assert jitter.late == 0


def test_stray_sequence_number_is_ignored() -> None:
    jitter = buffer()
    for seq in (1, 2, 3):
        jitter.push(SSRC, seq, seq)
    assert not jitter.push(SSRC, 40000, 40000)
    jitter.push(SSRC, 4, 4)
    assert jitter.strays == 1
    assert pops(jitter, 4) == [1, 2, 3, 4]


def test_sender_jumping_ahead_restarts_buffering_at_the_new_position() -> None:
    jitter = buffer(target=2, capacity=10)
    for seq in (1, 2, 3):
        jitter.push(SSRC, seq, seq)
    assert jitter.pop() == 1
    for seq in (500, 501):
        jitter.push(SSRC, seq, seq)  # 500 is within RFC 3550's dropout range: a skip, not a restart
    assert jitter.overflow == 2
    assert pops(jitter, 2) == [500, 501]


def test_bounded_whatever_arrives() -> None:
    rng = random.Random(3550)
    jitter = buffer(target=3, capacity=8)
    played: list[int] = []
    base = 60000
    for step in range(5000):
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
            offset = step + rng.randint(-6, 12)
            seq = (base + offset) & 0xFFFF
            jitter.push(SSRC if step < 4000 else SSRC + 1, seq, offset)
            assert jitter.depth_frames <= 8
        item = jitter.pop()
        if item is not None:
            played.append(item)
    # Within one stream, play-out never goes backwards.
    first_stream = [item for item in played if item < 3990]
    assert first_stream == sorted(first_stream)
    assert len(set(first_stream)) == len(first_stream)


def test_standing_excess_is_trimmed_one_frame_per_window() -> None:
    jitter = buffer(target=2, capacity=20, drift_window=10)
    for seq in range(6):
        jitter.push(SSRC, seq, seq)  # a burst: then one in, one out, so 7 held before each pop
    played = []
    for seq in range(6, 106):
        jitter.push(SSRC, seq, seq)
        item = jitter.pop()
        assert item is not None
        played.append(item)
    # One frame dropped per 10-pop window until the depth before a pop is the target: 7 → 2.
    assert jitter.drift_drops == 5
    assert jitter.depth_frames == 1
    assert played == sorted(played)
    assert len(played) + 5 == played[-1] + 1


def test_rfc3550_loss_survives_ssrc_change() -> None:
    jitter = buffer()
    for seq in (1, 2, 4):
        jitter.push(SSRC, seq, seq)
    for seq in (10, 13):
        jitter.push(SSRC + 1, seq, seq)
    assert jitter.rfc3550_lost() == 3
