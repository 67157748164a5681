"""AudioDecoder: the spec's four client formats in, PCM16 8 kHz mono out, whatever the chunking."""

from __future__ import annotations

import numpy as np
import pytest

from callgate.media.decoder import AudioDecoder, AudioFormat
from callgate.media.errors import AudioFormatError
from callgate.media.frames import FrameSplitter
from callgate.media.g711 import alaw_encode, ulaw_encode
from callgate.media.pcm import FRAME_BYTES, pcm16_samples
from callgate.media.signals import (
    align,
    dominant_frequency_hz,
    rms_dbfs,
    sine_pcm16,
    speech_like_pcm16,
)
from tests.media.mp3_material import chunks, random_chunks, tone_mp3


def run(decoder: AudioDecoder, pieces: list[bytes]) -> bytes:
    return b"".join(decoder.feed(p) for p in pieces) + decoder.flush()


def test_unknown_format_is_refused_with_the_accepted_list() -> None:
    with pytest.raises(AudioFormatError, match=r"'wav'.*'mp3', 'ulaw', 'alaw', 'pcm16'"):
        AudioDecoder("wav")
    assert AudioDecoder("mp3").format is AudioFormat.MP3
    assert AudioDecoder(AudioFormat.ULAW).format == "ulaw"


def test_pcm16_passes_through_with_odd_bytes_carried() -> None:
    audio = sine_pcm16(440.0, 0.2)
    decoder = AudioDecoder("pcm16")
    out = run(decoder, chunks(audio, 2559))
    assert out == audio
    assert run(AudioDecoder("pcm16"), chunks(audio, 1)) == audio
    pieces = [decoder.feed(b"\x01"), decoder.feed(b"\x02\x03"), decoder.feed(b"\x04\x05")]
    assert pieces == [b"", b"\x01\x02", b"\x03\x04"]
    assert decoder.flush() == b""  # the dangling half sample is dropped
    assert decoder.feed(b"\x06\x07") == b"\x06\x07"


@pytest.mark.parametrize(("name", "encode"), [("ulaw", ulaw_encode), ("alaw", alaw_encode)])
def test_g711_formats_decode_to_8khz_pcm16(name: str, encode: object) -> None:
    assert callable(encode)
    speech = speech_like_pcm16(1.0, level_dbfs=-20.0)
    out = run(AudioDecoder(name), chunks(encode(speech), 333))
    assert len(out) == len(speech)
    noise = np.frombuffer(out, "<i2").astype(np.float64) - pcm16_samples(speech)
    assert rms_dbfs(speech) - rms_dbfs(noise / 32768) > 30.0
    assert align(speech, out).lag_samples == 0


@pytest.mark.parametrize("channels", [1, 2], ids=["mono", "stereo"])
@pytest.mark.parametrize("rate_hz", [8000, 16000, 22050, 44100])
def test_mp3_in_2560_byte_chunks_becomes_one_second_of_1khz(rate_hz: int, channels: int) -> None:
    data = tone_mp3(rate_hz, channels, freqs_hz=(1000.0, 1000.0))
    out = run(AudioDecoder("mp3"), chunks(data, 2560))
    assert len(out) == 16000  # 1.0 s at 8 kHz: the file's codec delay and padding are trimmed
    assert dominant_frequency_hz(out) == pytest.approx(1000.0, abs=1.0)
    assert align(sine_pcm16(1000.0, 1.0), out).lag_samples == 0
    assert rms_dbfs(out[1600:-1600]) == pytest.approx(-6.0, abs=0.5)
    splitter = FrameSplitter()
    frames = splitter.feed(out)
    assert len(frames) == 50
    assert all(len(f) == FRAME_BYTES for f in frames)


@pytest.mark.parametrize("rate_hz", [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000])
def test_mp3_at_every_mpeg_rate(rate_hz: int) -> None:
    out = run(AudioDecoder("mp3"), chunks(tone_mp3(rate_hz, 1, duration_s=0.5), 2560))
    assert len(out) == 8000  # 0.5 s at 8 kHz, two bytes a sample
    assert dominant_frequency_hz(out) == pytest.approx(1000.0, abs=1.0)


@pytest.mark.parametrize("cut", ["1-byte", "random", "whole"])
def test_mp3_chunking_does_not_change_the_pcm(cut: str) -> None:
    data = tone_mp3(44100, 2)
    pieces = {"1-byte": chunks(data, 1), "random": random_chunks(data, 5), "whole": [data]}[cut]
    assert run(AudioDecoder("mp3"), pieces) == run(AudioDecoder("mp3"), chunks(data, 2560))


def test_mp3_files_at_different_rates_back_to_back() -> None:
    first = tone_mp3(22050, 1, freqs_hz=(440.0,))
    second = tone_mp3(44100, 2, freqs_hz=(1000.0, 1000.0))
    out = run(AudioDecoder("mp3"), chunks(first + second, 2560))
    assert len(out) == 32000
    half = len(out) // 2
    assert dominant_frequency_hz(out[: half - 800]) == pytest.approx(440.0, abs=1.0)
    assert dominant_frequency_hz(out[half + 800 :]) == pytest.approx(1000.0, abs=1.0)


def test_mp3_reset_lets_nothing_from_before_leak_out() -> None:
    before = tone_mp3(44100, 2, freqs_hz=(440.0, 440.0))
    after = tone_mp3(22050, 1)
    decoder = AudioDecoder("mp3")
    for piece in chunks(before[: len(before) // 2 + 1234], 2560):
        decoder.feed(piece)
    decoder.reset()
    assert run(decoder, chunks(after, 2560)) == run(AudioDecoder("mp3"), [after])


def test_pcm16_reset_drops_the_odd_byte() -> None:
    decoder = AudioDecoder("pcm16")
    decoder.feed(b"\x01")
    decoder.reset()
    assert decoder.feed(b"\x02\x03") == b"\x02\x03"


def test_bad_mp3_is_an_audio_format_error_and_the_decoder_recovers() -> None:
    decoder = AudioDecoder("mp3")
    with pytest.raises(AudioFormatError, match="WAV"):
        decoder.feed(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(2544))
    with pytest.raises(AudioFormatError, match="not MP3"):
        decoder.feed(bytes(range(1, 250)) * 10)
    assert len(run(decoder, chunks(tone_mp3(16000, 1), 2560))) == 16000
    stats = decoder.mp3_stats
    assert stats is not None
    assert stats.frames > 0
    assert stats.skipped_bytes > 2560


def test_empty_feed() -> None:
    for name in ("mp3", "ulaw", "alaw", "pcm16"):
        decoder = AudioDecoder(name)
        assert decoder.feed(b"") == b""
        assert decoder.flush() == b""
