"""Sequence and timestamp arithmetic across wraparound, and extended sequence tracking."""

from __future__ import annotations

import pytest

from callgate.telephony.rtp import (
    SequenceTracker,
    seq_add,
    seq_diff,
    seq_gt,
    ts_add,
    ts_diff,
    ts_gt,
)


@pytest.mark.parametrize(
    ("a", "b", "diff"),
    [
        (5, 3, 2),
        (3, 5, -2),
        (0, 65535, 1),
        (65535, 0, -1),
        (2, 65530, 8),
        (100, 100, 0),
        (32767, 0, 32767),
        (32768, 0, -32768),
    ],
)
def test_seq_diff_wraps(a: int, b: int, diff: int) -> None:
    assert seq_diff(a, b) == diff


def test_seq_gt_across_the_wrap() -> None:
    assert seq_gt(0, 65535)
    assert seq_gt(10, 65500)
    assert not seq_gt(65535, 0)
    assert not seq_gt(7, 7)
    # Exactly half the space apart is neither before nor after (RFC 1982 leaves it undefined).
    assert not seq_gt(32768, 0)
    assert not seq_gt(0, 32768)


def test_seq_add_wraps() -> None:
    assert seq_add(65535, 1) == 0
    assert seq_add(65530, 10) == 4
    assert seq_add(3, -5) == 65534


def test_timestamps_wrap_at_32_bits() -> None:
    assert ts_add(0xFFFFFF00, 0x200) == 0x100
    assert ts_diff(0x100, 0xFFFFFF00) == 0x200
    assert ts_diff(0xFFFFFF00, 0x100) == -0x200
    assert ts_gt(0x100, 0xFFFFFF00)
    assert not ts_gt(0xFFFFFF00, 0x100)
    assert not ts_gt(5, 5)


def test_tracker_extends_through_several_wraps() -> None:
    tracker = SequenceTracker(65000)
    extended = [tracker.update((65000 + i) & 0xFFFF) for i in range(200_000)]
    assert extended == [65000 + i for i in range(200_000)]
    assert tracker.expected == 200_000
    assert tracker.lost == 0


def test_tracker_places_reordered_packets_behind_the_highest() -> None:
    tracker = SequenceTracker(65534)
    assert [tracker.update(s) for s in (65534, 0, 65535, 1)] == [65534, 65536, 65535, 65537]
    assert tracker.highest == 65537


def test_tracker_counts_loss_like_rfc3550() -> None:
    tracker = SequenceTracker(10)
    for seq in (10, 11, 14, 15):
        tracker.update(seq)
    assert (tracker.expected, tracker.received, tracker.lost) == (6, 4, 2)


def test_tracker_needs_two_packets_to_believe_a_jump() -> None:
    tracker = SequenceTracker(100)
    tracker.update(100)
    assert tracker.update(40000) is None  # one stray packet far away: ignored
    assert tracker.update(101) == 101  # the stream goes on undisturbed
    assert tracker.update(20000) is None
    assert tracker.update(20001) == 102  # confirmed: the sender restarted its numbering
    assert tracker.update(20002) == 103
    assert tracker.restarts == 1


def test_tracker_small_forward_gap_is_loss_not_restart() -> None:
    tracker = SequenceTracker(0)
    tracker.update(0)
    assert tracker.update(2999) == 2999
    assert tracker.restarts == 0
