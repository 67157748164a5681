"""The speech detector on real espeak-ng speech, noise, DTMF and comfort noise."""

from __future__ import annotations

import numpy as np
import pytest

from callgate.listen.vad import SpeechDetector, SpeechStarted, SpeechStopped, VadSettings
from tests.listen import audio

ONSET_TOLERANCE_MS = 60  # |atMs - true onset|, documented in docs/listen.md

PHRASES = (
    ("hello, who is this?", "en-us"),
    ("I am calling about my order from last week", "en-gb+f3"),
    ("yes, that is fine", "en-us+m3"),
)


def run(pcm: bytes, settings: VadSettings | None = None) -> list[SpeechStarted | SpeechStopped]:
    detector = SpeechDetector(settings)
    out = []
    for frame in audio.frames(pcm):
        event = detector.feed(frame)
        if isinstance(event, SpeechStarted | SpeechStopped):
            out.append(event)
    return out


def scene() -> audio.Scene:
    clips = [
        (1.0 + 3.0 * i, audio.speech(text, voice), True) for i, (text, voice) in enumerate(PHRASES)
    ]
    return audio.Scene(10.0, clips)


@pytest.mark.parametrize(("noise", "snr_db"), [(None, 0.0), ("white", 10.0), ("pink", 10.0)])
def test_speech_turns_are_found_where_the_speech_is(noise: str | None, snr_db: float) -> None:
    the_scene = scene()
    events = run(the_scene.render(noise, snr_db))
    starts = [e.at_ms for e in events if isinstance(e, SpeechStarted)]
    stops = [e for e in events if isinstance(e, SpeechStopped)]
    assert len(starts) == len(PHRASES), events
    for got, (start, _clip, _) in zip(starts, the_scene.clips, strict=True):
        assert abs(got - start * 1000) <= ONSET_TOLERANCE_MS
    for stop, (start, clip, _) in zip(stops, the_scene.clips, strict=True):
        end_ms = (start + len(clip) / 8000) * 1000
        assert abs(stop.at_ms - end_ms) <= 200  # word endings fade; the hangover does not count


def test_dtmf_digits_and_beeps_are_not_speech() -> None:
    clips = [(0.5 + 0.3 * i, audio.dtmf(d, 150), False) for i, d in enumerate("159#0*")]
    clips.append((3.0, audio.tone(1000, 0.5), False))
    clips.append((4.0, audio.tone(1400, 0.3), False))
    clips.append((5.0, audio.tone(1100, 0.5), False))  # a fax machine's CNG
    pcm = audio.Scene(6.0, clips).render()
    assert run(pcm) == []


def test_comfort_noise_is_not_speech() -> None:
    noise = audio.pink(20.0, seed=3) * 10 ** (-60 / 20)  # -60 dBFS: typical comfort noise
    assert run(audio.pcm16(noise)) == []


def test_noise_alone_at_10_db_gives_no_speech() -> None:
    # The noise of the 10 dB scene without its speech, for a minute.
    level = 10 ** (-20 / 20) / 10 ** (10 / 20)  # speech near -20 dBFS, noise 10 dB under it
    for make in (audio.white, audio.pink):
        assert run(audio.pcm16(make(60.0, seed=5) * level)) == []


def test_min_speech_rejects_short_bursts() -> None:
    click = np.concatenate([audio.speech("ah", "en-us")[:480]])  # 60 ms of a vowel
    pcm = audio.Scene(2.0, [(0.5, click, True)]).render()
    assert run(pcm, VadSettings(min_speech_ms=120)) == []
