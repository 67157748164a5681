"""A call's media quality as its CDR reports it, and the estimated MOS (ITU-T G.107 E-model, simplified).

The trunk measures what it can see: packets (or frames) from the far party, those lost (RFC 3550
A.3: expected minus received), late (arrived after their turn to play), concealed (frames made up
for missing ones), the interarrival jitter (RFC 3550 A.8), jitter-buffer underruns, and packets sent.
The application side adds the frames dropped because the application did not read fast enough.

The MOS is the E-model's listening-quality estimate for the audio *we received*, from the figures above:

    R   = 93.2 - Id - Ie_eff                      (no echo, noise or advantage terms: their defaults)
    Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl)   (random loss: BurstR = 1)
    Id  = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)
    MOS = 1 + 0.035 R + 7e-6 R (R - 60) (100 - R), clamped to [1, 4.5]

with G.711's Ie = 0 and Bpl = 25.1 (G.113 Appendix I, with packet-loss concealment, which we do),
Ppl the loss in percent (lost and late packets over those expected), and d the one-way delay in ms
that the gateway adds or can see: one packet (20 ms) plus a jitter buffer of twice the measured
jitter, at least 40 ms. The network's own delay is not known without RTCP round trips, so a call
over a long path scores higher here than a listener would: read the figure as "what loss and jitter
did to this call", not as an end-to-end score.
"""

from __future__ import annotations

from dataclasses import dataclass

PACKET_MS = 20.0
IE_G711 = 0.0
BPL_G711_PLC = 25.1


@dataclass(frozen=True, slots=True)
class MediaQuality:
    rx_packets: int
    """Packets (frames) received from the far party."""
    rx_lost: int
    rx_late: int
    rx_concealed: int
    rx_jitter_ms: float
    rx_underruns: int
    tx_packets: int
    """Packets (frames) sent to the far party."""

    @property
    def loss_percent(self) -> float:
        expected = self.rx_packets + self.rx_lost
        if expected <= 0:
            return 0.0
        return 100.0 * (self.rx_lost + self.rx_late) / expected

    @property
    def mos(self) -> float | None:
        """The E-model estimate (above), or None when nothing was received to judge."""
        if self.rx_packets + self.rx_lost <= 0:
            return None
        delay = PACKET_MS + max(40.0, 2.0 * self.rx_jitter_ms)
        return mos_from(self.loss_percent, delay)


def mos_from(loss_percent: float, delay_ms: float) -> float:
    """MOS from the E-model's R for G.711 with concealment, random loss, and one-way delay."""
    ppl = min(100.0, max(0.0, loss_percent))
    ie_eff = IE_G711 + (95.0 - IE_G711) * ppl / (ppl + BPL_G711_PLC)
    d = max(0.0, delay_ms)
    i_d = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    r = 93.2 - i_d - ie_eff
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)
    return round(min(4.5, max(1.0, mos)), 2)
