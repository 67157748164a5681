"""`Mp3Decoder`: streaming MP3 to float samples, fed in chunks cut anywhere (even mid-frame).

Clients send MP3 in fixed-size chunks (the spec suggests 2560 bytes) that ignore frame boundaries, so the
decoder keeps state between calls: a small framer finds whole frames in the byte stream, and one FFmpeg
codec context (through PyAV) decodes them in order, keeping the bit reservoir that frames share.

Theory of operation
- Framing (`mpeg_audio.py` reads the headers). A frame is accepted when its header is valid and the
  next frame's header (same stream) or a tag follows exactly where it ends; a false sync in junk almost
  never passes that test, nor does the torn last frame of a file cut short before the next one. When
  the following bytes have not arrived yet, a frame of the stream we are locked on is accepted at once
  (no added latency); any other waits for them. `flush()` accepts a last unconfirmed frame.
- Tags. ID3v2 tags (any size, anywhere between frames, e.g. several files sent back to back) and ID3v1
  tags are skipped. A Xing/Info/VBRI frame starts a file and holds no audio: it is not decoded. When it
  carries a LAME tag (LAME and FFmpeg write one), its encoder delay plus the decoder's 529-sample delay
  are trimmed from the start, and the end padding from the end, so the output lines up sample for sample
  with what was encoded. Without that tag (raw encoder output, many live streams) nothing is trimmed:
  the output then starts with encoder delay + 529 samples of near-silence (1105 with LAME).
- Bad data policy: MP3 is built to resynchronise, so junk between frames is skipped and counted
  (`stats.skipped_bytes`), and a frame the codec rejects is replaced by silence of the same length
  (`stats.bad_frames`) so timing stays right. `AudioFormatError` is raised only when the data is
  evidently not MP3: it starts like another container (WAV, Ogg, FLAC, MP4, AMR), or more than
  `max_junk_bytes` have passed without one good frame. It is raised only from a call that decoded
  nothing, so no good audio is lost with it; the junk is discarded and the decoder stays usable.
- Memory is bounded: a tag is skipped as it streams past, and at most one frame plus a few bytes wait
  between calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import av
import numpy as np

from callgate.media.errors import AudioFormatError
from callgate.media.mpeg_audio import (
    HEADER_BYTES,
    ID3V1_BYTES,
    ID3V2_HEADER_BYTES,
    FrameHeader,
    id3v2_tag_bytes,
    parse_frame_header,
    parse_info_tag,
)
from callgate.media.pcm import FULL_SCALE, FloatArray

MAX_JUNK_BYTES: Final = 16384
"""Bytes without a single good frame after which the data is declared not MP3 (about 11 max-size
frames, or one second at 128 kbit/s)."""

_FOREIGN_MAGIC: Final = (
    (0, b"RIFF", "WAV (RIFF)"),
    (0, b"OggS", "Ogg"),
    (0, b"fLaC", "FLAC"),
    (4, b"ftyp", "MP4/M4A"),
    (0, b"#!AMR", "AMR"),
)
_SNIFF_BYTES: Final = 8


def _candidate_pattern() -> re.Pattern[bytes]:
    """Bytes that may start a tag or a Layer III header: sync, version not reserved, layer III, then
    a bitrate index other than free (0) or bad (15) and a sample-rate index other than reserved (3)."""
    second = bytes([0xE2, 0xE3, 0xF2, 0xF3, 0xFA, 0xFB])
    third = bytes(b for b in range(256) if 0 < b >> 4 < 15 and (b >> 2) & 0b11 != 0b11)
    header = b"\xff[" + re.escape(second) + b"][" + re.escape(third) + b"]"
    return re.compile(b"ID3|TAG|" + header)


_CANDIDATE: Final = _candidate_pattern()
_CODEC_NAME: Final = "mp3float"
"""FFmpeg's floating-point MP3 decoder: float output, no rounding to int16 before resampling."""


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Decoded samples with their format: float32, shape (samples, channels), 1.0 = full scale."""

    samples: FloatArray
    sample_rate_hz: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return int(self.samples.shape[0]) / self.sample_rate_hz


@dataclass(slots=True)
class Mp3Stats:
    """Counters over the decoder's life (kept across `reset()`), for logs and metrics."""

    frames: int = 0
    bad_frames: int = 0
    skipped_bytes: int = 0
    tags: int = 0


@dataclass(slots=True)
class _FileTrim:
    """What the current file's Info frame said: samples still to drop at its start, real samples and
    audio frames left in it (None: not known). The default trims nothing."""

    lead_samples: int = 0
    remaining_samples: int | None = None
    remaining_frames: int | None = None

    def apply(self, samples: FloatArray) -> FloatArray:
        """The part of the next decoded samples that is real audio."""
        if self.lead_samples:
            dropped = min(self.lead_samples, len(samples))
            samples = samples[dropped:]
            self.lead_samples -= dropped
        if self.remaining_samples is not None:
            samples = samples[: self.remaining_samples]
            self.remaining_samples -= len(samples)
        return samples


_NEW_FILE: Final = None
"""Marker in the framer's output: an ID3v2 tag, so a new file (whose Info frame may follow) begins."""
_Framed = tuple[FrameHeader, bytes] | None


class Mp3Decoder:
    """Streaming MP3 decoder: `feed()` chunks, get `DecodedAudio` blocks; see the module docstring."""

    def __init__(self, *, max_junk_bytes: int = MAX_JUNK_BYTES, mono: bool = False) -> None:
        self.max_junk_bytes = max_junk_bytes
        # mono: channels averaged as they leave the codec (one channel out), for a caller that
        # downmixes anyway: no interleaved copy of every frame first.
        self.mono = mono
        self.stats = Mp3Stats()
        self._buf = bytearray()
        self._pos = 0
        self._skip_bytes = 0
        self._lock: int | None = None
        self._junk_run = 0
        self._sniffed = False
        self._trim = _FileTrim()
        self._codec: Any = _new_codec()

    def feed(self, data: bytes | bytearray | memoryview) -> list[DecodedAudio]:
        """Decode whatever whole frames `data` completes; may be an empty list."""
        self._buf += data
        if not self._sniffed:
            if len(self._buf) < _SNIFF_BYTES:
                return []
            self._sniff()
        blocks = self._decode(self._frames(final=False))
        if not blocks and self._junk_run > self.max_junk_bytes:
            run = self._junk_run
            raise AudioFormatError(f"not MP3: no MPEG audio frame in the last {run} bytes")
        return blocks

    def flush(self) -> list[DecodedAudio]:
        """Decode the held-back frame, if any, and end the stream; the decoder is then as new."""
        blocks = self._decode(self._frames(final=True))
        self.reset()
        return blocks

    def reset(self) -> None:
        """Drop all buffered bytes and codec state (bit reservoir, filterbank overlap)."""
        self._buf.clear()
        self._pos = 0
        self._skip_bytes = 0
        self._lock = None
        self._junk_run = 0
        self._sniffed = False
        self._trim = _FileTrim()
        self._codec = _new_codec()

    # --- framing ---------------------------------------------------------------------------------

    def _sniff(self) -> None:
        """Refuse data that starts like another container, before any of it is taken for junk."""
        self._sniffed = True
        head = bytes(self._buf[:_SNIFF_BYTES])
        for offset, magic, name in _FOREIGN_MAGIC:
            if head[offset : offset + len(magic)] == magic:
                self._junk_run = self.max_junk_bytes + len(self._buf)
                self.stats.skipped_bytes += len(self._buf)
                self._buf.clear()
                self._pos = 0
                raise AudioFormatError(f"not MP3: the data is {name}")

    def _frames(self, *, final: bool) -> list[_Framed]:
        """Whole frames (and file starts) from the buffer; consumes tags and junk, keeps what may
        still become a frame."""
        buf = self._buf
        frames: list[_Framed] = []
        while True:
            pos = self._pos
            avail = len(buf) - pos
            if self._skip_bytes:
                step = min(self._skip_bytes, avail)
                self._pos += step
                self._skip_bytes -= step
                if self._skip_bytes:
                    break
                continue
            if avail < HEADER_BYTES:
                if final:
                    self._junk(avail)
                break
            if buf[pos] == 0x49 and buf[pos + 1 : pos + 3] == b"D3":  # "ID3"
                if avail < ID3V2_HEADER_BYTES and not final:
                    break
                tag_bytes = id3v2_tag_bytes(buf, pos)
                if tag_bytes is not None:
                    self._skip_tag(tag_bytes)
                    frames.append(_NEW_FILE)
                    continue
            elif buf[pos] == 0x54 and buf[pos + 1 : pos + 3] == b"AG":  # "TAG", ID3v1
                self._skip_tag(ID3V1_BYTES)
                continue
            header = parse_frame_header(buf, pos)
            if header is None:
                self._junk_until_candidate()
                continue
            end = pos + header.frame_bytes
            if len(buf) < end:
                if final:
                    self._junk(avail)  # a truncated last frame would decode to noise
                    continue
                break
            verdict = self._confirmed(header, end)
            if verdict is False:
                self._junk_until_candidate()
                continue
            if verdict is None and header.stream_key != self._lock and not final:
                break
            frames.append((header, bytes(buf[pos:end])))
            self._pos = end
            self._lock = header.stream_key
            self._junk_run = 0
        del buf[: self._pos]
        self._pos = 0
        return frames

    def _confirmed(self, header: FrameHeader, end: int) -> bool | None:
        """Does a matching frame or a tag follow the candidate frame? None: not enough bytes yet."""
        following = bytes(self._buf[end : end + HEADER_BYTES])
        if len(following) < HEADER_BYTES:
            return None
        if following[:3] in (b"ID3", b"TAG"):
            return True
        neighbour = parse_frame_header(following)
        return neighbour is not None and neighbour.stream_key == header.stream_key

    def _skip_tag(self, tag_bytes: int) -> None:
        self._skip_bytes = tag_bytes
        self._junk_run = 0
        self.stats.tags += 1

    def _junk(self, count: int) -> None:
        self._pos += count
        self._junk_run += count
        self.stats.skipped_bytes += count
        self._lock = None

    def _junk_until_candidate(self) -> None:
        """Skip to the next byte that could start a frame or a tag (a C-speed regex scan)."""
        found = _CANDIDATE.search(self._buf, self._pos + 1)
        # With no candidate, keep the last two bytes: they may be the start of a header or a tag.
        nxt = found.start() if found else max(self._pos + 1, len(self._buf) - 2)
        self._junk(nxt - self._pos)

    # --- decoding --------------------------------------------------------------------------------

    def _decode(self, frames: list[_Framed]) -> list[DecodedAudio]:
        runs: list[tuple[int, list[FloatArray]]] = []  # consecutive pieces of one rate and layout
        for item in frames:
            if item is _NEW_FILE:
                self._trim = _FileTrim()
                continue
            header, frame = item
            info = parse_info_tag(frame, header)
            if info is not None:
                self.stats.tags += 1
                self._trim = _FileTrim(
                    lead_samples=info.leading_samples(),
                    remaining_samples=info.total_samples(header.samples_per_frame),
                    remaining_frames=info.frame_count,
                )
                continue
            self.stats.frames += 1
            trim = self._trim
            if trim.remaining_frames is not None:
                trim.remaining_frames -= 1
                if trim.remaining_frames <= 0:  # the file's last frame: what follows is not trimmed
                    self._trim = _FileTrim()
            for samples, rate_hz in self._decode_frame(header, frame):
                trimmed = trim.apply(samples)
                if not len(trimmed):
                    continue
                last = runs[-1] if runs else None
                if last and last[0] == rate_hz and last[1][0].shape[1] == trimmed.shape[1]:
                    last[1].append(trimmed)
                else:
                    runs.append((rate_hz, [trimmed]))
        return [DecodedAudio(np.concatenate(pieces), rate_hz) for rate_hz, pieces in runs]

    def _decode_frame(self, header: FrameHeader, frame: bytes) -> list[tuple[FloatArray, int]]:
        try:
            decoded = self._codec.decode(av.Packet(frame))
        except av.FFmpegError:
            self.stats.bad_frames += 1
            silence = np.zeros((header.samples_per_frame, header.channels), dtype=np.float32)
            return [(silence, header.sample_rate_hz)]
        # The rate comes from our header: FFmpeg labels the first frame after a rate change (the next
        # file in the stream) with the previous rate.
        mono = self.mono
        return [(_to_mono(f) if mono else _to_float(f), header.sample_rate_hz) for f in decoded]


def _new_codec() -> Any:
    codec = av.CodecContext.create(_CODEC_NAME, "r")
    codec.thread_count = 1  # one call's stream: FFmpeg's worker threads would only add hand-offs
    return codec


def _to_mono(frame: Any) -> FloatArray:
    """An FFmpeg audio frame as float32 (samples, 1), its channels averaged.

    mp3float gives planar float ("fltp"): each channel is read where it lies, with no copy into a
    (channels, samples) array and back. Other layouts take the general way.
    """
    if frame.format.name != "fltp":
        samples = _to_float(frame)
        if samples.shape[1] == 1:
            return samples
        mono: FloatArray = samples.mean(axis=1, dtype=np.float32, keepdims=True)
        return mono
    count = frame.samples
    planes = frame.planes
    first = np.frombuffer(planes[0], dtype=np.float32, count=count)
    if len(planes) == 1:
        return first.reshape(count, 1).copy()
    total = first + np.frombuffer(planes[1], dtype=np.float32, count=count)
    for plane in planes[2:]:
        total += np.frombuffer(plane, dtype=np.float32, count=count)
    total *= np.float32(1.0 / len(planes))
    return total.reshape(count, 1)


def _to_float(frame: Any) -> FloatArray:
    """An FFmpeg audio frame as float32 (samples, channels), whatever its sample format."""
    array = frame.to_ndarray()
    channels = int(frame.layout.nb_channels)
    samples: FloatArray = array.T if frame.format.is_planar else array.reshape(-1, channels)
    if samples.dtype != np.float32:
        samples = samples.astype(np.float32) / np.float32(FULL_SCALE)
    return samples
