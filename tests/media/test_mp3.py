"""Streaming MP3 decode: chunk boundaries anywhere, tags, sample rates, channel layouts, bad data.

The material is encoded at run time with LAME (see mp3_material.py). What we measured and assert:
- A file (ID3v2 + Xing/Info frame with LAME tag) decodes sample-exact: LAME's 576-sample encoder delay
  plus the decoder's 529 are trimmed from the start, the end padding from the end, so the output has
  exactly the input's length and lines up with it at lag 0.
- A raw frame stream (no Info frame) cannot be trimmed: it starts 1105 samples late at every rate
  (576 + 529; 25 ms at 44.1 kHz, 138 ms at 8 kHz) and ends padded to a whole frame (1152 samples for
  MPEG-1, 576 for MPEG-2 and 2.5).
"""

from __future__ import annotations

import numpy as np
import pytest

from callgate.media.errors import AudioFormatError
from callgate.media.mp3 import DecodedAudio, Mp3Decoder
from callgate.media.mpeg_audio import parse_frame_header
from callgate.media.signals import align, dominant_frequency_hz, rms_dbfs
from tests.media.mp3_material import (
    DECODER_DELAY_SAMPLES,
    LAME_ENCODER_DELAY_SAMPLES,
    chunks,
    random_chunks,
    tone,
    tone_mp3,
)

RATES_HZ = [8000, 16000, 22050, 44100]


def decode(pieces: list[bytes], decoder: Mp3Decoder | None = None) -> list[DecodedAudio]:
    decoder = decoder or Mp3Decoder()
    blocks: list[DecodedAudio] = []
    for piece in pieces:
        blocks.extend(decoder.feed(piece))
    blocks.extend(decoder.flush())
    return blocks


def merged(blocks: list[DecodedAudio]) -> list[DecodedAudio]:
    """Consecutive blocks of the same rate and layout joined (feed() returns one list per call)."""
    out: list[DecodedAudio] = []
    for block in blocks:
        if out and (out[-1].sample_rate_hz, out[-1].channels) == (
            block.sample_rate_hz,
            block.channels,
        ):
            out[-1] = DecodedAudio(
                np.concatenate((out[-1].samples, block.samples)), block.sample_rate_hz
            )
        else:
            out.append(block)
    return out


def joined(blocks: list[DecodedAudio]) -> np.ndarray:
    assert len({(b.sample_rate_hz, b.channels) for b in blocks}) == 1
    return np.concatenate([b.samples for b in blocks])


def frame_offsets(data: bytes) -> list[int]:
    """Where each frame of a raw (untagged) MP3 stream starts."""
    offsets, at = [], 0
    while (header := parse_frame_header(data, at)) is not None:
        offsets.append(at)
        at += header.frame_bytes
    assert at == len(data)
    return offsets


@pytest.mark.parametrize("channels", [1, 2], ids=["mono", "stereo"])
@pytest.mark.parametrize("rate_hz", RATES_HZ)
def test_file_in_2560_byte_chunks_decodes_sample_exact(rate_hz: int, channels: int) -> None:
    blocks = decode(chunks(tone_mp3(rate_hz, channels), 2560))
    assert {b.sample_rate_hz for b in blocks} == {rate_hz}
    out = joined(blocks)
    assert out.shape == (rate_hz, channels)  # exactly 1.0 s: delay and padding trimmed
    reference = tone(rate_hz, channels)
    for c, freq_hz in zip(range(channels), (1000.0, 440.0), strict=False):
        assert dominant_frequency_hz(out[:, c], rate_hz=rate_hz) == pytest.approx(freq_hz, abs=1.0)
        alignment = align(reference[:, c], out[:, c])
        assert alignment.lag_samples == 0
        assert alignment.peak > 0.99
        assert rms_dbfs(out[:, c]) == pytest.approx(-6.0, abs=0.5)


@pytest.mark.parametrize("rate_hz", [8000, 44100])
def test_raw_stream_keeps_codec_delay_and_padding(rate_hz: int) -> None:
    data = tone_mp3(rate_hz, 1, container=False)
    out = joined(decode(chunks(data, 2560)))
    samples_per_frame = 1152 if rate_hz > 24000 else 576
    delay = LAME_ENCODER_DELAY_SAMPLES + DECODER_DELAY_SAMPLES
    assert len(out) % samples_per_frame == 0
    assert rate_hz + delay <= len(out) < rate_hz + delay + samples_per_frame
    assert align(tone(rate_hz, 1)[:, 0], out[:, 0]).lag_samples == delay


@pytest.mark.parametrize(
    "cut",
    ["whole", "1-byte", "2560-byte", "random-1", "random-2"],
)
def test_chunking_does_not_change_the_output(cut: str) -> None:
    data = tone_mp3(44100, 2)
    pieces = {
        "whole": [data],
        "1-byte": chunks(data, 1),
        "2560-byte": chunks(data, 2560),
        "random-1": random_chunks(data, seed=1),
        "random-2": random_chunks(data, seed=2, max_size=50),
    }[cut]
    assert np.array_equal(joined(decode(pieces)), joined(decode([data])))


def test_once_locked_each_frame_decodes_as_soon_as_it_is_complete() -> None:
    """Latency: only the very first frame waits for the next header; after that, none waits."""
    data = tone_mp3(44100, 1, container=False)
    offsets = frame_offsets(data)
    decoder = Mp3Decoder()
    assert decoder.feed(data[: offsets[1]]) == []  # unconfirmed: could be a false sync
    produced = [decoder.feed(data[offsets[1] : offsets[3]])]
    produced += [decoder.feed(data[offsets[n] : offsets[n + 1]]) for n in range(3, 10)]
    assert [sum(len(b.samples) for b in blocks) for blocks in produced] == [3 * 1152] + [1152] * 7


def test_back_to_back_files_with_different_rates_and_layouts() -> None:
    """Several files in one stream (a client sending one TTS file per sentence)."""
    a = tone_mp3(22050, 1, freqs_hz=(440.0,))
    b = tone_mp3(44100, 2)
    blocks = merged(decode(chunks(a + b + a, 2560)))
    shapes = [(blk.sample_rate_hz, blk.samples.shape) for blk in blocks]
    assert shapes == [(22050, (22050, 1)), (44100, (44100, 2)), (22050, (22050, 1))]
    assert dominant_frequency_hz(blocks[2].samples[:, 0], rate_hz=22050) == pytest.approx(
        440, abs=1
    )


def test_large_id3_tag_with_false_syncs_is_skipped() -> None:
    data = tone_mp3(16000, 1)
    body = (b"\xff\xfb\x90\x00" * 25_000)[:100_000]  # looks like frame headers, but it is tag data
    size = len(body)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    tagged = b"ID3\x04\x00\x00" + syncsafe + body + data
    decoder = Mp3Decoder()
    out = joined(decode(chunks(tagged, 2560), decoder))
    assert np.array_equal(out, joined(decode([data])))
    assert decoder.stats.skipped_bytes == 0


def test_junk_between_frames_is_skipped_and_counted() -> None:
    data = tone_mp3(44100, 1, container=False)
    offsets = frame_offsets(data)
    cut = offsets[10]
    junk = bytes(range(1, 200))  # no 0xFF: cannot start a frame
    decoder = Mp3Decoder()
    out = joined(decode(chunks(data[:cut] + junk + data[cut:], 2560), decoder))
    # The frame before the junk is not followed by a header, so it is suspect and skipped too.
    assert decoder.stats.skipped_bytes == len(junk) + cut - offsets[9]
    assert len(out) == len(joined(decode([data]))) - 1152
    assert dominant_frequency_hz(out[:, 0], rate_hz=44100) == pytest.approx(1000, abs=1)


def test_corrupt_frame_becomes_silence_of_the_same_length() -> None:
    clean = tone_mp3(44100, 1, container=False)
    offsets = frame_offsets(clean)
    data = bytearray(clean)
    # Keep the header, make the side information garbage: the codec rejects the frame.
    data[offsets[5] + 4 : offsets[6]] = b"\xff" * (offsets[6] - offsets[5] - 4)
    decoder = Mp3Decoder()
    out = joined(decode(chunks(bytes(data), 2560), decoder))
    assert decoder.stats.bad_frames >= 1
    assert len(out) == len(joined(decode([clean])))
    assert not out[5 * 1152 : 6 * 1152].any()


def test_random_bytes_are_refused_but_the_decoder_recovers() -> None:
    junk = np.random.default_rng(3).integers(0, 256, 40_000, dtype=np.uint8).tobytes()
    decoder = Mp3Decoder()
    raised_at = []
    for i, piece in enumerate(chunks(junk, 2560)):
        try:
            decoder.feed(piece)
        except AudioFormatError as error:
            raised_at.append((i, str(error)[:7]))
    # The first 16 KiB are given the benefit of the doubt; every junk chunk after that is refused.
    assert raised_at == [(i, "not MP3") for i in range(6, 16)]
    out = joined(decode(chunks(tone_mp3(16000, 1), 2560), decoder))
    assert len(out) == 16000


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"RIFF\x24\x7d\x00\x00WAVEfmt ", "WAV"),
        (b"OggS\x00\x02\x00\x00\x00\x00", "Ogg"),
        (b"\x00\x00\x00\x20ftypM4A ", "MP4"),
    ],
)
def test_other_containers_are_refused_at_once(head: bytes, name: str) -> None:
    decoder = Mp3Decoder()
    with pytest.raises(AudioFormatError, match=name):
        decoder.feed(head + bytes(2000))


def test_truncated_stream_flushes_without_error() -> None:
    data = tone_mp3(44100, 2)
    out = joined(decode(chunks(data[: len(data) // 2 + 77], 2560)))
    assert 0 < len(out) < 44100


def test_reset_leaves_nothing_of_the_previous_stream() -> None:
    """Half a 440 Hz stream, reset, then a 1 kHz stream: output identical to decoding it alone."""
    before = tone_mp3(44100, 1, freqs_hz=(440.0,), container=False)
    after = tone_mp3(44100, 1)
    decoder = Mp3Decoder()
    for piece in chunks(before[: len(before) // 2 + 100], 2560):
        decoder.feed(piece)
    decoder.reset()
    assert np.array_equal(joined(decode(chunks(after, 2560), decoder)), joined(decode([after])))


def test_empty_and_tiny_input() -> None:
    decoder = Mp3Decoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\xff") == []
    assert decoder.flush() == []


def test_raw_stream_after_a_file_is_not_trimmed_by_the_file_info() -> None:
    """The Info frame's counts cover its own file only; raw frames after it play in full."""
    tagged = tone_mp3(44100, 1, freqs_hz=(440.0,))
    raw = tone_mp3(44100, 1, container=False)
    blocks = merged(decode(chunks(tagged + raw, 2560)))
    assert len(blocks) == 1
    out = blocks[0].samples[:, 0]
    assert len(out) == 44100 + len(joined(decode([raw])))
    assert dominant_frequency_hz(out[:44100], rate_hz=44100) == pytest.approx(440, abs=1)
    assert dominant_frequency_hz(out[46000:], rate_hz=44100) == pytest.approx(1000, abs=1)


def test_id3_tag_starts_a_new_file_even_without_an_info_frame() -> None:
    """A file cut short (its Info frame promised more) then a tagged raw stream: the new one is kept."""
    tagged = tone_mp3(16000, 1, freqs_hz=(440.0,))
    raw = tone_mp3(16000, 1, container=False)
    empty_id3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    out = joined(decode(chunks(tagged[: len(tagged) // 2] + empty_id3 + raw, 2560)))[:, 0]
    alone = joined(decode([raw]))[:, 0]
    assert len(out) > len(alone)
    # Only the first frame of the new file may differ (the filterbank still rings from the old one).
    assert np.array_equal(out[-len(alone) + 1152 :], alone[1152:])


@pytest.mark.parametrize("channels", [1, 2])
def test_mono_output_is_the_downmix_of_the_channels_to_the_bit(channels: int) -> None:
    data = tone_mp3(44100, channels)
    stereo = joined(merged(decode(chunks(data, 2560))))
    mono = joined(merged(decode(chunks(data, 2560), Mp3Decoder(mono=True))))
    assert mono.shape == (len(stereo), 1)
    assert np.array_equal(mono[:, 0], stereo.mean(axis=1, dtype=np.float32))
