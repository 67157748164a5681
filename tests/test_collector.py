"""collector.settle: what lives at start-up is frozen, and young collections become rare."""

from __future__ import annotations

import gc

from callgate import collector


def test_settle_freezes_what_lives_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    kept = [[n] for n in range(1000)]  # containers alive at "start-up"
    try:
        collector.settle()
        assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, 20, 10)
        assert gc.get_freeze_count() >= len(kept)
        # Frozen: no generation holds it, so no collection will traverse it again.
        assert not any(tracked is kept for tracked in gc.get_objects())
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
