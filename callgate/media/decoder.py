"""`AudioDecoder`: a client's `audio` payloads, in any of the spec's formats, to PCM16 8 kHz mono.

The Socket.IO `audio` event carries `audioFormat` "mp3", "ulaw", "alaw" or "pcm16". The telephone side
only plays PCM16 at 8 kHz, mono, little-endian; one decoder per call and direction turns the client's
chunks into that, keeping whatever state the format needs between chunks:

- "pcm16": already 8 kHz little-endian; an odd trailing byte waits for its other half.
- "ulaw", "alaw": G.711 at 8 kHz, one byte per sample, stateless.
- "mp3": any rate from 8 to 48 kHz, mono or stereo, chunked anywhere; decoded, downmixed, resampled.

Output from `feed()` is always whole samples but not whole frames: a `FrameSplitter` cuts frames.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from callgate.media.errors import AudioFormatError
from callgate.media.g711 import alaw_decode, ulaw_decode
from callgate.media.mp3 import DecodedAudio, Mp3Decoder, Mp3Stats
from callgate.media.pcm import FloatArray, float_to_pcm16
from callgate.media.resample import Resampler


class AudioFormat(StrEnum):
    """The spec's `audioFormat` values."""

    MP3 = "mp3"
    ULAW = "ulaw"
    ALAW = "alaw"
    PCM16 = "pcm16"


def parse_audio_format(name: str) -> AudioFormat:
    """The format named by a client, or `AudioFormatError` naming the accepted values."""
    try:
        return AudioFormat(name)
    except ValueError:
        accepted = ", ".join(repr(f.value) for f in AudioFormat)
        raise AudioFormatError(f"unknown audioFormat {name!r}; accepted: {accepted}") from None


class AudioDecoder:
    """One stream of client audio in `audio_format` to PCM16 8 kHz mono little-endian bytes."""

    def __init__(self, audio_format: str | AudioFormat) -> None:
        self.format = parse_audio_format(str(audio_format))
        self._odd_byte = b""
        self._mp3 = Mp3Decoder(mono=True) if self.format is AudioFormat.MP3 else None
        self._resampler: Resampler | None = None

    @property
    def mp3_stats(self) -> Mp3Stats | None:
        """Frames, bad frames, skipped bytes and tags seen, for an "mp3" stream."""
        return self._mp3.stats if self._mp3 is not None else None

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """PCM16 for everything `data` completes. Raises `AudioFormatError` if it is not the format."""
        match self.format:
            case AudioFormat.PCM16:
                return self._feed_pcm16(data)
            case AudioFormat.ULAW:
                return ulaw_decode(data)
            case AudioFormat.ALAW:
                return alaw_decode(data)
            case AudioFormat.MP3:
                assert self._mp3 is not None
                return self._resample(self._mp3.feed(data), final=False)

    def flush(self) -> bytes:
        """What is still held back (MP3's last frame, the resampler's tail); then start afresh.

        A dangling odd PCM16 byte is half a sample and is dropped.
        """
        if self._mp3 is not None:
            return self._resample(self._mp3.flush(), final=True)
        self._odd_byte = b""
        return b""

    def reset(self) -> None:
        """Drop everything held: no audio fed before the reset comes out after it."""
        self._odd_byte = b""
        if self._mp3 is not None:
            self._mp3.reset()
        self._resampler = None

    def _feed_pcm16(self, data: bytes | bytearray | memoryview) -> bytes:
        if not self._odd_byte and not len(data) % 2:
            return bytes(data)
        joined = self._odd_byte + bytes(data)
        whole = len(joined) - len(joined) % 2
        self._odd_byte = joined[whole:]
        return joined[:whole]

    def _resample(self, blocks: list[DecodedAudio], *, final: bool) -> bytes:
        pieces: list[FloatArray] = []
        for block in blocks:
            resampler = self._resampler
            if resampler is None or resampler.in_rate_hz != block.sample_rate_hz:
                # A new rate (for example the next file in the stream): finish the old filter first.
                if resampler is not None:
                    pieces.append(resampler.flush())
                resampler = self._resampler = Resampler(block.sample_rate_hz)
            pieces.append(resampler.process(block.samples))
        if final and self._resampler is not None:
            pieces.append(self._resampler.flush())
            self._resampler = None
        if not pieces:
            return b""
        return float_to_pcm16(np.concatenate(pieces))
