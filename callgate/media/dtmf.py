"""In-band DTMF (ITU-T Q.23 tones): generate a digit's tone pair, and detect digits in PCM16 audio.

Used by the simulated carrier to send and hear in-band DTMF, and by tests to check the audio path.

Each digit is one frequency from the low group (rows) plus one from the high group (columns):

            1209 Hz  1336 Hz  1477 Hz  1633 Hz
    697 Hz     1        2        3        A
    770 Hz     4        5        6        B
    852 Hz     7        8        9        C
    941 Hz     *        0        #        D

Generation sends the high tone 2 dB above the low one (the usual "pre-emphasis" that offsets line
loss) at -10/-12 dBFS, about -7/-9 dBm0 on a G.711 line, with 2 ms ramps so the spectrum stays clean.

Detection (theory of operation): 20 ms windows every 10 ms (a window is two neighbouring 10 ms hops).
In each window, the power at each DTMF frequency is what the Goertzel algorithm computes: one DFT term
at that exact frequency. Here it is done as a matrix product per 10 ms hop, each hop shared by the two
windows it belongs to, which gives the same numbers (tests check against the recurrence) for a
fraction of the cost. Each tone is probed at its nominal frequency and ±1.5%, keeping the best, so
real-world frequency error costs no level. A window holds a digit when all of these hold:
- the strongest low and strongest high tone are each at least `min_level_dbfs` (windows too quiet for
  that skip the spectrum altogether, which makes silence cheap);
- the two tones carry at least `min_tone_energy_ratio` of the window's energy (speech spreads its
  energy over many harmonics and fails this; it is the main defence against talk-off);
- each is at least 6 dB above the other tones of its group;
- twist (high minus low level) is within ±`max_twist_db`;
- the two halves of the window have energies within 1.8 dB (so a window only partly inside a tone is
  not counted: durations are measured on whole windows).
A digit is reported once it has held for `min_duration_ms` of consecutive windows, and not again until a
window without it (the inter-digit pause). Measured with the defaults: tones of 40 ms or more are
always detected and 23 ms never (Q.24's limits); frequency errors up to ±2% are accepted and ±3% or
more rejected (Q.24: accept ±1.5%, reject ±3.5%); twist up to 8 dB either way is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from callgate.media.pcm import FULL_SCALE, PCM16, SAMPLE_RATE_HZ, float_to_pcm16

LOW_GROUP_HZ: Final = (697.0, 770.0, 852.0, 941.0)
HIGH_GROUP_HZ: Final = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD: Final = ("123A", "456B", "789C", "*0#D")
DIGITS: Final = "0123456789*#ABCD"
# For membership tests: a set, so "" and "12" are not digits the way they are substrings of DIGITS.
DIGIT_SET: Final = frozenset(DIGITS)

LOW_LEVEL_DBFS: Final = -12.0
HIGH_LEVEL_DBFS: Final = -10.0
RAMP_MS: Final = 2.0
WINDOW_MS: Final = 20
HOP_MS: Final = 10

_PROBE_FACTORS: Final = np.array([1.0 - 0.015, 1.0, 1.0 + 0.015])
"""Each tone is measured at its nominal frequency and ±1.5% (Q.24's tolerance), keeping the best."""
_GROUP_PURITY_RATIO: Final = 4.0  # 6 dB, in power
_HALF_ENERGY_RATIO: Final = 1.5  # 1.8 dB


def digit_frequencies(digit: str) -> tuple[float, float]:
    """(low, high) frequencies of a DTMF digit; `ValueError` for anything but 0-9 * # A-D."""
    key = digit.upper()
    if len(key) == 1:
        for row, keys in enumerate(KEYPAD):
            column = keys.find(key)
            if column >= 0:
                return LOW_GROUP_HZ[row], HIGH_GROUP_HZ[column]
    raise ValueError(f"not a DTMF digit: {digit!r} (expected one of {DIGITS})")


def dtmf_tone(
    digit: str,
    duration_ms: float = 100.0,
    *,
    rate_hz: int = SAMPLE_RATE_HZ,
    low_level_dbfs: float = LOW_LEVEL_DBFS,
    high_level_dbfs: float = HIGH_LEVEL_DBFS,
) -> bytes:
    """PCM16 of one digit's tone pair lasting `duration_ms`, with short ramps at both ends."""
    low_hz, high_hz = digit_frequencies(digit)
    count = round(duration_ms * rate_hz / 1000)
    t = np.arange(count, dtype=np.float64) / rate_hz
    tone = 10.0 ** (low_level_dbfs / 20.0) * np.sin(2.0 * np.pi * low_hz * t)
    tone += 10.0 ** (high_level_dbfs / 20.0) * np.sin(2.0 * np.pi * high_hz * t)
    ramp = min(round(RAMP_MS * rate_hz / 1000), count // 2)
    if ramp:
        edge = np.sin(0.5 * np.pi * (np.arange(ramp) + 0.5) / ramp) ** 2
        tone[:ramp] *= edge
        tone[count - ramp :] *= edge[::-1]
    return float_to_pcm16(tone)


def dtmf_sequence(
    digits: str,
    tone_ms: float = 100.0,
    gap_ms: float = 100.0,
    *,
    rate_hz: int = SAMPLE_RATE_HZ,
) -> bytes:
    """PCM16 of several digits, each `tone_ms` long and followed by `gap_ms` of silence."""
    gap = bytes(2 * round(gap_ms * rate_hz / 1000))
    return b"".join(dtmf_tone(d, tone_ms, rate_hz=rate_hz) + gap for d in digits)


def goertzel_powers(
    windows: npt.NDArray[np.float64], freqs_hz: Sequence[float], rate_hz: int = SAMPLE_RATE_HZ
) -> npt.NDArray[np.float64]:
    """|X(f)|² over each row of `windows` at each frequency: what the Goertzel recurrence yields.

    Goertzel computes one DFT term, X(f) = Σ x[n]·e^(-j2πfn/rate), with a two-tap recurrence per
    sample. Over many windows at once the same sum is cheaper as a matrix product with the kernel
    e^(-j2πfn/rate), so that is how it is computed; tests check it against the recurrence.
    """
    spectra = windows @ _kernel(windows.shape[-1], np.asarray(freqs_hz, dtype=np.float64), rate_hz)
    powers: npt.NDArray[np.float64] = spectra.real**2 + spectra.imag**2
    return powers


def _kernel(
    length: int, freqs_hz: npt.NDArray[np.float64], rate_hz: int
) -> npt.NDArray[np.complex128]:
    """e^(-j2πfn/rate) for n in [0, length) down the rows, one column per frequency."""
    kernel: npt.NDArray[np.complex128] = np.exp(
        -2j * np.pi * np.outer(np.arange(length), freqs_hz) / rate_hz
    )
    return kernel


class DtmfDetector:
    """Streaming DTMF detector over PCM16: `feed()` audio as it arrives, get digits as they start."""

    def __init__(
        self,
        *,
        rate_hz: int = SAMPLE_RATE_HZ,
        min_duration_ms: float = 30.0,
        min_level_dbfs: float = -33.0,
        max_twist_db: float = 8.0,
        min_tone_energy_ratio: float = 0.8,
    ) -> None:
        self.rate_hz = rate_hz
        self.hop = rate_hz * HOP_MS // 1000
        self.window = 2 * self.hop
        self.min_windows = 1 + max(0, math.ceil((min_duration_ms - WINDOW_MS) / HOP_MS))
        self.min_tone_energy_ratio = min_tone_energy_ratio
        self._min_power = (10.0 ** (min_level_dbfs / 20.0) * self.window / 2.0) ** 2
        self._max_twist_power = 10.0 ** (max_twist_db / 10.0)
        # Probe-major order (all tones at -1.5%, then nominal, then +1.5%): the best probe per tone
        # is then an elementwise maximum of three slices.
        self.probes_hz = (_PROBE_FACTORS[:, None] * np.array(LOW_GROUP_HZ + HIGH_GROUP_HZ)).ravel()
        self._kernel = _kernel(self.hop, self.probes_hz, rate_hz)
        # A window is two hops; the second hop's sum must be rotated to the window's time origin.
        self._second_hop_rotation = np.exp(-2j * np.pi * self.probes_hz * self.hop / rate_hz)
        # Below this window energy not even two tones at the minimum level fit: skip the spectrum.
        self._min_window_energy = 2.0 * 2.0 * self._min_power / self.window
        self.reset()

    def reset(self) -> None:
        """Forget buffered audio and any digit in progress."""
        self._pending: npt.NDArray[np.floating[Any]] = np.zeros(0, dtype=np.float64)
        self._odd_byte = b""
        self._candidate: str | None = None
        self._run = 0
        self._reported: str | None = None

    def feed(self, pcm16: bytes | bytearray | memoryview) -> list[str]:
        """Digits that start being recognised within this audio (usually none)."""
        data = self._odd_byte + bytes(pcm16)
        whole = len(data) - len(data) % 2
        self._odd_byte = data[whole:]
        fresh = np.frombuffer(data, dtype=PCM16, count=whole // 2) * (1.0 / FULL_SCALE)
        samples = np.concatenate((self._pending, fresh)) if self._pending.size else fresh
        count = samples.size // self.hop
        # Keep the last whole hop too: it is the first half of the next window.
        self._pending = samples[max(count - 1, 0) * self.hop :]
        if count < 2:
            return []
        hops = samples[: count * self.hop].reshape(count, self.hop)
        energies = np.einsum("ij,ij->i", hops, hops)
        first_half, second_half = energies[:-1], energies[1:]
        if (first_half + second_half).max() < self._min_window_energy:
            tokens: list[str | None] = [None] * (count - 1)  # quiet: no digit can be there
        else:
            tokens = self._classify(self.window_powers(hops), first_half, second_half)
        digits = []
        for token in tokens:
            digit = self._track(token)
            if digit is not None:
                digits.append(digit)
        return digits

    def window_powers(self, hops: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        """|X(f)|² of each window (hops k and k+1, rows of 10 ms) at the eight DTMF frequencies, low
        group first, each the best of its three probes: shape (len(hops) - 1, 8)."""
        # Each hop's DFT terms are computed once and shared by the two windows it belongs to.
        spectra = hops @ self._kernel
        window = spectra[:-1] + self._second_hop_rotation * spectra[1:]
        power = window.real**2 + window.imag**2
        best: npt.NDArray[np.float64] = np.maximum(
            np.maximum(power[:, :8], power[:, 8:16]), power[:, 16:]
        )
        return best

    def _classify(
        self,
        powers: npt.NDArray[np.float64],
        first_half: npt.NDArray[np.float64],
        second_half: npt.NDArray[np.float64],
    ) -> list[str | None]:
        """The digit each window holds, or None; see the module docstring for the tests applied."""
        tokens: list[str | None] = [None] * len(powers)
        low, high = powers[:, :4], powers[:, 4:]
        low_peak, high_peak = low.max(axis=1), high.max(axis=1)
        energy = first_half + second_half
        # A sine of amplitude A gives |X|² = (A·N/2)² at its frequency and energy A²·N/2 in the window.
        tone_energy = 2.0 * (low_peak + high_peak) / self.window
        # Cheap tests first: silence and speech fail here, the rest is done only for candidates.
        gate = (
            (tone_energy >= self.min_tone_energy_ratio * energy)
            & (low_peak >= self._min_power)
            & (high_peak >= self._min_power)
        )
        if not gate.any():
            return tokens
        for i in np.flatnonzero(gate).tolist():
            low_row, high_row = low[i].tolist(), high[i].tolist()
            low_best, high_best = max(low_row), max(high_row)
            halves = sorted((float(first_half[i]), float(second_half[i])))
            if (
                sorted(low_row)[-2] * _GROUP_PURITY_RATIO <= low_best
                and sorted(high_row)[-2] * _GROUP_PURITY_RATIO <= high_best
                and high_best <= self._max_twist_power * low_best
                and low_best <= self._max_twist_power * high_best
                and halves[1] <= _HALF_ENERGY_RATIO * halves[0]
            ):
                tokens[i] = KEYPAD[low_row.index(low_best)][high_row.index(high_best)]
        return tokens

    def _track(self, token: str | None) -> str | None:
        """Turn per-window tokens into digit onsets: long enough, and once per press."""
        if token != self._candidate:
            self._candidate, self._run = token, 0
        self._run += 1
        if token is None:
            self._reported = None
            return None
        if self._run >= self.min_windows and token != self._reported:
            self._reported = token
            return token
        return None


def detect_digits(
    pcm16: bytes | bytearray | memoryview, *, rate_hz: int = SAMPLE_RATE_HZ
) -> list[str]:
    """Every DTMF digit in a complete PCM16 recording, in order."""
    return DtmfDetector(rate_hz=rate_hz).feed(pcm16)
