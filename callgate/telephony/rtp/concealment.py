"""Packet loss concealment for G.711 frames: repeat the last frame once, fading out, then silence.

A lost 20 ms frame replaced by silence is heard as a click; replaced by a copy of the previous frame
it is mostly unnoticed, because speech changes little in 20 ms. Repeating more than once turns into
an audible buzz, so a second consecutive loss is silence. The repeat fades from half level to zero
across the frame so that the step into silence is not a click either.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from callgate.media.pcm import PCM16, SAMPLES_PER_FRAME, SILENCE_FRAME

_FADE: Final = np.linspace(0.5, 0.0, SAMPLES_PER_FRAME, dtype=np.float32)


class Concealer:
    """Remembers the last good frame and produces the replacement for a missing one."""

    __slots__ = ("_last", "concealed_frames")

    def __init__(self) -> None:
        self._last: bytes | None = None
        self.concealed_frames = 0

    def good(self, pcm16: bytes) -> None:
        """Record a frame that was really received (or real silence, such as a DTMF pause)."""
        self._last = pcm16

    def conceal(self) -> bytes:
        """The frame to play for a missing packet."""
        self.concealed_frames += 1
        last = self._last
        if last is None or last is SILENCE_FRAME:
            return SILENCE_FRAME
        self._last = SILENCE_FRAME  # repeat once only
        samples = np.frombuffer(last, dtype=PCM16)
        if len(samples) != SAMPLES_PER_FRAME:
            return SILENCE_FRAME
        faded: bytes = (samples * _FADE).astype(PCM16).tobytes()
        return faded
