"""Benchmark of callgate.media: client audio decode speed per format, G.711 and DTMF cost per frame.

Run: .venv/bin/python bench/media_decode.py [--seconds 20] [--repeat 5]
Prints one JSON object. Decode rows feed 2560-byte chunks (the spec's recommended size) of speech-like
audio through `AudioDecoder` and report the median over `--repeat` runs: times real time, and µs of CPU
per 20 ms of output (one call for one second uses 50 of those).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import platform
import statistics
import time
from collections.abc import Callable

import av
import numpy as np
import soxr

from callgate.media.decoder import AudioDecoder
from callgate.media.dtmf import DtmfDetector, dtmf_tone
from callgate.media.frames import FrameSplitter
from callgate.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callgate.media.mp3 import Mp3Decoder
from callgate.media.pcm import FRAME_BYTES, FRAME_MS, float_to_pcm16
from callgate.media.signals import speech_like

CHUNK_BYTES = 2560
MP3_CASES = [  # (rate_hz, channels, kbit/s, with file tags)
    (44100, 2, 128, True),
    (44100, 2, 128, False),
    (48000, 1, 64, True),
    (22050, 1, 64, True),
    (16000, 1, 32, True),
    (8000, 1, 16, True),
]


def encode_mp3(samples: np.ndarray, rate_hz: int, kbps: int, container: bool) -> bytes:
    planar = np.ascontiguousarray(np.atleast_2d(samples.T if samples.ndim == 2 else samples))
    layout = "mono" if planar.shape[0] == 1 else "stereo"
    out = io.BytesIO()
    packets: list[bytes] = []
    with av.open(out, "w", format="mp3") as muxer:
        stream = muxer.add_stream("libmp3lame", rate=rate_hz, layout=layout)
        stream.bit_rate = kbps * 1000
        codec = stream.codec_context
        codec.format = "fltp"
        codec.open()
        size = codec.frame_size
        for start in range(0, planar.shape[1], size):
            block = np.ascontiguousarray(planar[:, start : start + size], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = rate_hz
            frame.pts = start
            for packet in codec.encode(frame):
                packets.append(bytes(packet))
                muxer.mux(packet)
        for packet in codec.encode(None):
            packets.append(bytes(packet))
            muxer.mux(packet)
    return out.getvalue() if container else b"".join(packets)


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def decode_row(name: str, data: bytes, duration_s: float, repeat: int) -> dict[str, object]:
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
    output: list[int] = []

    def run() -> None:
        decoder = AudioDecoder(name)
        produced = sum(len(decoder.feed(c)) for c in chunks) + len(decoder.flush())
        output.append(produced)

    elapsed = median_seconds(run, repeat)
    frames = duration_s * 1000 / FRAME_MS
    return {
        "x_realtime": round(duration_s / elapsed, 1),
        "us_per_20ms_frame": round(elapsed / frames * 1e6, 2),
        "input_bytes": len(data),
        "output_seconds": round(output[-1] / 2 / 8000, 3),
    }


def per_call_us(run: Callable[[], object], loops: int) -> float:
    """Best of five timings of `loops` calls, per call."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            run()
        best = min(best, time.perf_counter() - start)
    return round(best / loops * 1e6, 3)


def frames_fed(detector: DtmfDetector, audio: bytes) -> Callable[[], object]:
    """A call that feeds the detector the next 20 ms frame of `audio`, round and round."""
    frames = itertools.cycle(
        [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
    )
    return lambda: detector.feed(next(frames))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="audio length per format")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    args = parser.parse_args()
    duration_s: float = args.seconds

    speech_8k = float_to_pcm16(speech_like(duration_s, level_dbfs=-18.0, seed=1))
    decode: dict[str, object] = {
        "pcm16": decode_row("pcm16", speech_8k, duration_s, args.repeat),
        "ulaw": decode_row("ulaw", ulaw_encode(speech_8k), duration_s, args.repeat),
        "alaw": decode_row("alaw", alaw_encode(speech_8k), duration_s, args.repeat),
    }
    for rate_hz, channels, kbps, container in MP3_CASES:
        mono = speech_like(duration_s, rate_hz=rate_hz, level_dbfs=-18.0, seed=2)
        samples = mono if channels == 1 else np.stack([mono, np.roll(mono, 50)], axis=1)
        data = encode_mp3(samples, rate_hz, kbps, container)
        layout = "stereo" if channels == 2 else "mono"
        key = f"mp3_{rate_hz}_{layout}_{kbps}k" + ("" if container else "_raw")
        decode[key] = decode_row("mp3", data, duration_s, args.repeat)

    # MP3 frame decoding alone (no resampling), 44.1 kHz stereo, to show where the time goes.
    stereo = speech_like(duration_s, rate_hz=44100, level_dbfs=-18.0, seed=2)
    data = encode_mp3(np.stack([stereo, stereo], axis=1), 44100, 128, True)
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]

    def mp3_only() -> None:
        decoder = Mp3Decoder()
        for c in chunks:
            decoder.feed(c)
        decoder.flush()

    elapsed = median_seconds(mp3_only, args.repeat)
    decode["mp3_44100_stereo_128k_without_resampling"] = {
        "x_realtime": round(duration_s / elapsed, 1),
        "us_per_20ms_frame": round(elapsed / (duration_s * 50) * 1e6, 2),
    }

    frame = speech_8k[:FRAME_BYTES]
    ulaw_frame, alaw_frame = ulaw_encode(frame), alaw_encode(frame)
    detector = DtmfDetector()
    splitter = FrameSplitter()
    frames_per_chunk = CHUNK_BYTES // FRAME_BYTES
    per_frame = {
        "ulaw_encode": per_call_us(lambda: ulaw_encode(frame), 20000),
        "ulaw_decode": per_call_us(lambda: ulaw_decode(ulaw_frame), 20000),
        "alaw_encode": per_call_us(lambda: alaw_encode(frame), 20000),
        "alaw_decode": per_call_us(lambda: alaw_decode(alaw_frame), 20000),
        "frame_splitter": round(
            per_call_us(lambda: splitter.feed(speech_8k[:CHUNK_BYTES]), 5000) / frames_per_chunk, 3
        ),
        **{
            f"dtmf_detect_{name}": per_call_us(frames_fed(detector, audio), 5000)
            for name, audio in (
                ("speech", speech_8k),
                ("dtmf_tone", dtmf_tone("5", 1000.0)),
                ("silence", bytes(FRAME_BYTES * 50)),
            )
        },
    }

    print(
        json.dumps(
            {
                "benchmark": "media_decode",
                "audio_seconds_per_run": duration_s,
                "chunk_bytes": CHUNK_BYTES,
                "decode": decode,
                "per_320B_frame_us": per_frame,
                "environment": {
                    "python": platform.python_version(),
                    "machine": platform.machine(),
                    "numpy": np.__version__,
                    "av": av.__version__,
                    "ffmpeg_libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
                    "soxr": soxr.__version__,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
