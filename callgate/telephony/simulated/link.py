"""The simulated carrier's network: loss and delay variation on the audio it sends, and their figures.

A `SimulatedLink` decides, per 20 ms frame the callee sends, whether the frame is lost, arrives too
late to play (its delay variation beyond the jitter buffer), or arrives in time, and keeps the
counters a real RTP receiver would: lost and late frames are concealed (replaced by silence), and
the interarrival jitter follows RFC 3550 A.8 on the simulated transit times. Seeded per call, so a
test sees the same pattern every run. An unimpaired link (the default) is not asked per frame: what
it carried is the number of ticks it was up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from callgate.calls.quality import MediaQuality

JITTER_BUFFER_MS = 60.0  # a frame delayed more than this past its slot misses its turn


@dataclass(slots=True)
class SimulatedLink:
    loss_percent: float
    jitter_ms: float
    seed: str
    start_tick: int
    """The media tick the call's media started after: the callee sends one frame a tick from then."""
    lost: int = 0
    late: int = 0
    jitter: float = 0.0  # RFC 3550 J, in ms
    _last_transit: float | None = None
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @property
    def impaired(self) -> bool:
        return self.loss_percent > 0 or self.jitter_ms > 0

    def carries(self) -> bool:
        """One frame from the callee over an impaired link: True if it arrives in time to play."""
        if self.loss_percent and self._random.random() * 100.0 < self.loss_percent:
            self.lost += 1
            return False
        transit = self._random.uniform(0.0, self.jitter_ms) if self.jitter_ms else 0.0
        if self._last_transit is not None:
            self.jitter += (abs(transit - self._last_transit) - self.jitter) / 16.0
        self._last_transit = transit
        if transit > JITTER_BUFFER_MS:
            self.late += 1
            return False
        return True

    def quality(self, tick_no: int, frames_sent: int) -> MediaQuality:
        """The figures at tick `tick_no`, with the frames the gateway sent the callee."""
        offered = max(0, tick_no - self.start_tick)
        return MediaQuality(
            rx_packets=offered - self.lost,
            rx_lost=self.lost,
            rx_late=self.late,
            rx_concealed=self.lost + self.late,
            rx_jitter_ms=self.jitter,
            rx_underruns=0,
            tx_packets=frames_sent,
        )
