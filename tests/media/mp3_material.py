"""MP3 test material made at run time with the LAME encoder bundled in PyAV's FFmpeg (no binary files).

`encode_mp3(..., container=True)` goes through FFmpeg's MP3 muxer, like an MP3 file on disk: an ID3v2
tag, then a Xing/Info frame with a LAME tag (encoder delay and end padding), then the audio frames.
`container=False` is the encoder's raw frames only, as many live streams and TTS services send them.
"""

from __future__ import annotations

import io
from functools import lru_cache

import av
import numpy as np
import numpy.typing as npt

from callgate.media.signals import sine

BITRATE_KBPS = {
    8000: 32,
    11025: 32,
    12000: 32,
    16000: 48,
    22050: 64,
    24000: 64,
    32000: 96,
    44100: 128,
    48000: 128,
}
LAME_ENCODER_DELAY_SAMPLES = 576
DECODER_DELAY_SAMPLES = 529


def encode_mp3(samples: npt.NDArray[np.float32], rate_hz: int, *, container: bool = True) -> bytes:
    """MP3 bytes for float samples shaped (samples,) or (samples, channels)."""
    planar = np.atleast_2d(samples.T if samples.ndim == 2 else samples).astype(np.float32)
    layout = "mono" if planar.shape[0] == 1 else "stereo"
    bit_rate = 1000 * BITRATE_KBPS[rate_hz] * planar.shape[0] // 2
    if container:
        out = io.BytesIO()
        with av.open(out, "w", format="mp3") as muxer:
            stream = muxer.add_stream("libmp3lame", rate=rate_hz, layout=layout)
            stream.bit_rate = bit_rate
            for packet in _encode(stream.codec_context, planar, rate_hz, layout):
                muxer.mux(packet)
        return out.getvalue()
    codec = av.CodecContext.create("libmp3lame", "w")
    codec.sample_rate = rate_hz
    codec.layout = layout
    codec.bit_rate = bit_rate
    return b"".join(bytes(p) for p in _encode(codec, planar, rate_hz, layout))


def _encode(
    codec: av.AudioCodecContext, planar: npt.NDArray[np.float32], rate_hz: int, layout: str
) -> list[av.Packet]:
    codec.format = "fltp"
    codec.open()
    size = codec.frame_size
    packets: list[av.Packet] = []
    for start in range(0, planar.shape[1], size):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planar[:, start : start + size]), format="fltp", layout=layout
        )
        frame.sample_rate = rate_hz
        frame.pts = start
        packets.extend(codec.encode(frame))
    packets.extend(codec.encode(None))
    return packets


def tone(
    rate_hz: int,
    channels: int,
    duration_s: float = 1.0,
    freqs_hz: tuple[float, ...] = (1000.0, 440.0),
) -> npt.NDArray[np.float32]:
    """A test tone: channel i plays freqs_hz[i] at -6 dBFS; shape (samples, channels)."""
    return np.stack(
        [sine(freqs_hz[c], duration_s, rate_hz=rate_hz, level_dbfs=-6.0) for c in range(channels)],
        axis=1,
    )


@lru_cache(maxsize=64)
def tone_mp3(
    rate_hz: int,
    channels: int,
    *,
    duration_s: float = 1.0,
    freqs_hz: tuple[float, ...] = (1000.0, 440.0),
    container: bool = True,
) -> bytes:
    """`tone()` encoded to MP3, made once per test session."""
    return encode_mp3(tone(rate_hz, channels, duration_s, freqs_hz), rate_hz, container=container)


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def random_chunks(data: bytes, seed: int, max_size: int = 3000) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out, at = [], 0
    while at < len(data):
        size = int(rng.integers(1, max_size))
        out.append(data[at : at + size])
        at += size
    return out
