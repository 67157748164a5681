"""A whole audio file as PCM16 8 kHz mono, for audio the gateway plays itself (music on hold).

The same formats a client may stream: `.wav` (16-bit PCM, any rate and channel count, read by
callgate.media.wavread as a client's are), and by suffix `.mp3`, `.ulaw`/`.mulaw`, `.alaw`, `.pcm`/`.raw`
(pcm16 at 8 kHz), each through the gateway's own `AudioDecoder`.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Final

from callgate.media.decoder import AudioDecoder
from callgate.media.errors import AudioFormatError
from callgate.media.wavread import wav_to_pcm16

MAX_FILE_BYTES: Final = 16 << 20
"""Longer than any music on hold needs (about 17 minutes of 8 kHz pcm16); a bigger file is a
mistake in the configuration, not a loop to hold in memory."""
_SUFFIX_FORMATS: Final = {
    ".mp3": "mp3",
    ".ulaw": "ulaw",
    ".mulaw": "ulaw",
    ".alaw": "alaw",
    ".pcm": "pcm16",
    ".raw": "pcm16",
}


def read_audio_file(path: str | Path) -> bytes:
    """The file's audio as PCM16 8 kHz mono little-endian. Raises OSError when it cannot be
    read and ValueError (naming the file) when it is not audio in a format we take."""
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MB")
    suffix = path.suffix.lower()
    try:
        if suffix == ".wav":
            pcm = wav_to_pcm16(path)
        else:
            audio_format = _SUFFIX_FORMATS.get(suffix)
            if audio_format is None:
                accepted = ", ".join([".wav", *_SUFFIX_FORMATS])
                raise ValueError(f"{path}: unknown audio file type; one of {accepted}")
            decoder = AudioDecoder(audio_format)
            pcm = decoder.feed(path.read_bytes()) + decoder.flush()
    except (AudioFormatError, EOFError, wave.Error) as exc:
        raise ValueError(f"{path}: not readable audio: {exc}") from None
    if len(pcm) < 2:
        raise ValueError(f"{path}: no audio in it")
    return pcm
