"""Audio for callgate: G.711, PCM16 framing, streaming MP3 decode, resampling to 8 kHz, in-band DTMF.

Pure functions and small stateful decoders over bytes and numpy arrays: no I/O, no clock, nothing
imported from the rest of callgate. The telephone side of every call is PCM16, 8 kHz, mono,
little-endian, in 20 ms frames of 320 bytes (`pcm.py`).
"""

from callgate.media.decoder import AudioDecoder, AudioFormat, parse_audio_format
from callgate.media.dtmf import DtmfDetector, detect_digits, dtmf_sequence, dtmf_tone
from callgate.media.errors import AudioFormatError
from callgate.media.frames import FrameSplitter
from callgate.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callgate.media.mp3 import DecodedAudio, Mp3Decoder
from callgate.media.pcm import (
    BYTES_PER_SAMPLE,
    FRAME_BYTES,
    FRAME_MS,
    SAMPLE_RATE_HZ,
    SAMPLES_PER_FRAME,
    SILENCE_FRAME,
)
from callgate.media.resample import Resampler

__all__ = [
    "BYTES_PER_SAMPLE",
    "FRAME_BYTES",
    "FRAME_MS",
    "SAMPLES_PER_FRAME",
    "SAMPLE_RATE_HZ",
    "SILENCE_FRAME",
    "AudioDecoder",
    "AudioFormat",
    "AudioFormatError",
    "DecodedAudio",
    "DtmfDetector",
    "FrameSplitter",
    "Mp3Decoder",
    "Resampler",
    "alaw_decode",
    "alaw_encode",
    "detect_digits",
    "dtmf_sequence",
    "dtmf_tone",
    "parse_audio_format",
    "ulaw_decode",
    "ulaw_encode",
]
