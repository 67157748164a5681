"""What one 20 ms frame of the far party's audio is: its level, whether it is a pure tone (and at what
frequency), and whether WebRTC's voice activity detector calls it speech.

Tones matter because WebRTC's detector calls every loud periodic signal speech: DTMF digits, an
answering machine's beep, a fax machine's CNG tone, ringback. Measured on espeak-ng speech (three
voices) and on Q.23 digits and sines: the two strongest spectral peaks (±3 bins of a 320-point FFT
each) hold at most 0.96 of a speech frame's energy (p99 0.94) and at least 0.99 of a tone's; so a
frame above `TONAL_RATIO` is a tone, not speech. The spectrum costs more than everything else here
(about 15 us a frame against 3), so it is computed only when asked: for voiced frames that could
start a turn (`check_voiced`: a digit or a beep must never confirm speech; inside a turn a tone only
lengthens it a little), and for every loud frame while answering-machine detection listens for a
beep (`check_all`).

WebRTC's detector alone calls steady noise speech whenever its noise model lags (the first second of
a noisy line, a change of noise). So a frame must also stand `NOISE_MARGIN_DB` above the line's noise
floor, estimated as the quietest frame of the last `FLOOR_WINDOW_FRAMES` (minimum statistics: speech
has pauses between syllables, noise has none), kept as minima of `FLOOR_BLOCK_FRAMES`-frame blocks so
it costs a comparison per frame.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import webrtcvad

from callgate.media.pcm import FRAME_BYTES, SAMPLE_RATE_HZ, SILENCE_FRAME

TONAL_RATIO: Final = 0.975
FFT_POINTS: Final = 320  # zero-padded from the frame's 160 samples: 25 Hz bins
PEAK_HALF_WIDTH: Final = 3  # bins either side of a peak counted as that peak's energy
_WINDOW: Final = np.hanning(FRAME_BYTES // 2)
_FULL_SCALE_ENERGY: Final = (FRAME_BYTES // 2) * 32768.0**2
SILENT_DBFS: Final = -120.0
NOISE_MARGIN_DB: Final = 6.0
FLOOR_BLOCK_FRAMES: Final = 10  # 200 ms
FLOOR_BLOCKS: Final = 8  # the floor is the quietest frame of the last 1.4-1.6 s


@dataclass(frozen=True, slots=True)
class FrameInfo:
    level_dbfs: float  # RMS over the frame, dB relative to a full-scale square wave
    voiced: bool  # WebRTC says speech, and it is not a tone
    tone_hz: float | None  # the strongest peak's frequency when the frame is a pure tone or two


SILENT_FRAME_INFO: Final = FrameInfo(SILENT_DBFS, False, None)


def level_dbfs(frame: bytes) -> float:
    samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
    energy = float(np.dot(samples, samples))
    if energy <= 0.0:
        return SILENT_DBFS
    return 10.0 * math.log10(energy / _FULL_SCALE_ENERGY)


def levels_dbfs(frames: list[bytes]) -> list[float]:
    """`level_dbfs` of many frames in one pass: the media tick measures every listening call's
    frame at once, for a fraction of the cost of one call each (numpy's overhead is per call)."""
    if any(len(frame) != FRAME_BYTES for frame in frames):  # no trunk sends other sizes
        return [level_dbfs(frame) for frame in frames]
    samples = np.frombuffer(b"".join(frames), dtype=np.int16).astype(np.float32)
    blocks = samples.reshape(len(frames), FRAME_BYTES // 2)
    energy = np.einsum("ij,ij->i", blocks, blocks).astype(np.float64)
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(energy / _FULL_SCALE_ENERGY)
    return [SILENT_DBFS if level < SILENT_DBFS else level for level in levels.tolist()]


def tone_of(frame: bytes) -> float | None:
    """The dominant frequency if at least `TONAL_RATIO` of the energy sits in two narrow peaks."""
    samples = np.frombuffer(frame, dtype=np.int16).astype(np.float64) * _WINDOW
    power = np.abs(np.fft.rfft(samples, FFT_POINTS)) ** 2
    total = float(power.sum())
    if total <= 0.0:
        return None
    first = int(power.argmax())
    lo, hi = max(0, first - PEAK_HALF_WIDTH), first + PEAK_HALF_WIDTH + 1
    peak_energy = float(power[lo:hi].sum())
    rest = power.copy()
    rest[lo:hi] = 0.0
    second = int(rest.argmax())
    peak_energy += float(
        rest[max(0, second - PEAK_HALF_WIDTH) : second + PEAK_HALF_WIDTH + 1].sum()
    )
    if peak_energy < TONAL_RATIO * total:
        return None
    return first * SAMPLE_RATE_HZ / FFT_POINTS


class FrameAnalyser:
    """One per call: WebRTC's detector keeps a noise model across frames."""

    def __init__(self, aggressiveness: int = 3, min_level_dbfs: float = -45.0) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)
        self.min_level_dbfs = min_level_dbfs
        self._blocks: list[float] = []  # minima of the last whole blocks
        self._block_min = -SILENT_DBFS
        self._block_frames = 0
        self.floor_dbfs = -SILENT_DBFS  # nothing heard yet: no floor

    def _track_floor(self, level: float) -> float:
        """The noise floor before this frame, then take the frame into it."""
        floor = self.floor_dbfs
        if level < self._block_min:
            self._block_min = level
        if level < floor:
            self.floor_dbfs = level
        self._block_frames += 1
        if self._block_frames == FLOOR_BLOCK_FRAMES:
            blocks = self._blocks
            blocks.append(self._block_min)
            if len(blocks) > FLOOR_BLOCKS:
                del blocks[0]
            self.floor_dbfs = min(blocks)
            self._block_min = -SILENT_DBFS
            self._block_frames = 0
        return min(floor, level)

    def analyse(
        self,
        frame: bytes,
        *,
        check_voiced: bool = True,
        check_all: bool = False,
        level: float | None = None,
    ) -> FrameInfo:
        """`check_voiced`: rule out tones among voiced frames; `check_all`: find the tone of loud
        unvoiced frames too (a beep WebRTC did not call speech); `level`: the frame's, if known."""
        if frame is SILENCE_FRAME or len(frame) != FRAME_BYTES:
            self._track_floor(SILENT_DBFS)
            return SILENT_FRAME_INFO
        if level is None:
            level = level_dbfs(frame)
        floor = self._track_floor(level)
        # comfort noise, line hiss, silence, steady noise: never speech
        if level < self.min_level_dbfs or level < floor + NOISE_MARGIN_DB:
            if check_all and level >= self.min_level_dbfs:
                return FrameInfo(level, False, tone_of(frame))
            return FrameInfo(level, False, None)
        voiced = self._vad.is_speech(frame, SAMPLE_RATE_HZ)
        tone = tone_of(frame) if (voiced and check_voiced) or check_all else None
        return FrameInfo(level, voiced and tone is None, tone)
