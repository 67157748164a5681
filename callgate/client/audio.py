"""What `Call.play()` accepts, cut into the chunks it streams: a file, bytes, or an async iterator.

The gateway takes `mp3`, `pcm16` (8 kHz mono), `ulaw` and `alaw`. A WAV file is read here (stdlib
`wave`) and sent as pcm16, downmixed and resampled to 8 kHz when it is not already. Chunks are the
spec's 2560 bytes (160 ms of pcm16); MP3 bytes are cut the same way, the gateway's decoder keeps its
state across chunks.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterator
from pathlib import Path
from typing import Final, Literal

from callgate.media.wavread import wav_to_pcm16

AudioFormat = Literal["mp3", "pcm16", "ulaw", "alaw"]
FORMATS: Final = ("mp3", "pcm16", "ulaw", "alaw")
CHUNK_BYTES: Final = 2560
"""The spec's recommended chunk: 160 ms of pcm16."""
BYTES_PER_MS: Final = {"pcm16": 16, "ulaw": 8, "alaw": 8}
_SUFFIX_FORMATS: Final[dict[str, AudioFormat]] = {
    ".mp3": "mp3",
    ".pcm": "pcm16",
    ".raw": "pcm16",
    ".ulaw": "ulaw",
    ".mulaw": "ulaw",
    ".alaw": "alaw",
}

Source = str | Path | bytes | bytearray | memoryview | AsyncIterable[bytes]


def _chunks(data: bytes, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _iterate(data: bytes) -> AsyncGenerator[bytes, None]:
    for chunk in _chunks(data):
        yield chunk


async def _rechunk(source: AsyncIterable[bytes]) -> AsyncGenerator[bytes, None]:
    """An application's stream, in chunks of at most CHUNK_BYTES (a TTS may yield seconds at once)."""
    async for piece in source:
        for chunk in _chunks(bytes(piece)):
            yield chunk


def open_source(
    source: Source, audio_format: str | None
) -> tuple[str, AsyncGenerator[bytes, None]]:
    """The gateway's audioFormat for `source` and its chunks."""
    if isinstance(source, str | Path):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix == ".wav":
            return "pcm16", _iterate(wav_to_pcm16(path))
        fmt = audio_format or _SUFFIX_FORMATS.get(suffix)
        if fmt is None:
            raise ValueError(f"{path}: say its format (format='mp3', 'pcm16', 'ulaw' or 'alaw')")
        return _checked(fmt), _iterate(path.read_bytes())
    if isinstance(source, bytes | bytearray | memoryview):
        return _checked(audio_format or "pcm16"), _iterate(bytes(source))
    if audio_format is None:
        raise ValueError("an async iterator of audio needs its format (format='pcm16', ...)")
    return _checked(audio_format), _rechunk(source)


def _checked(audio_format: str) -> str:
    if audio_format not in FORMATS:
        raise ValueError(f"unknown audio format {audio_format!r}; one of {', '.join(FORMATS)}")
    return audio_format
