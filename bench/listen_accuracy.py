"""Benchmark: how well the gateway listens, on generated audio; prints JSON.

Speech from espeak-ng (several voices, resampled to 8 kHz by sox: tests/listen/audio.py) placed at
known times and mixed with white, pink (telephone band) or babble noise at 20, 10 and 5 dB SNR:
- VAD: for each true onset, `speechStarted.atMs - onset` (where the event says speech began) and
  the detection delay (when the event could be sent: the frame that confirmed it, minus the onset);
  misses, and false starts outside speech;
- false `speechStarted` on noise alone (10 minutes of each noise at each level), per 10 minutes;
- AMD on people answering ("Hello?" and the like) and voicemail greetings ending in a beep of
  1 or 1.4 kHz, 200-600 ms: correct share, time to decide, where the beep was put.

    .venv/bin/python bench/listen_accuracy.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import percentile
from callgate.listen.amd import AmdDecision, Beep, MachineDetector
from callgate.listen.frames import FrameAnalyser
from callgate.listen.vad import SpeechDetector, SpeechStarted, VadSettings
from tests.listen import audio

VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb+m3")
PHRASES = (
    "hello, who is this?",
    "I am calling about my order from last week",
    "yes, that is fine",
    "could you repeat that please",
    "no thanks, I am not interested",
    "what time does the store open tomorrow",
    "my account number is four five six seven",
    "sure, go ahead",
)
HELLOS = ("Hello?", "Yes, hello", "Hi, who's this?", "Hello, Sam speaking", "Yeah?", "Good morning")
GREETINGS = (
    "Hi, you have reached the voicemail of Alex Morgan. I cannot take your call right now. "
    "Please leave your name and number after the tone.",
    "Thank you for calling Green Valley Dental. Our office is currently closed. "
    "Please leave a message and we will return your call.",
    "The person you are calling is not available. Please record your message after the beep.",
)


def vad_set(settings: VadSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for noise, snr in itertools.product(("white", "pink", "babble"), (20.0, 10.0, 5.0)):
        errors, delays, misses, false_starts, onsets = [], [], 0, 0, 0
        for n, voice in enumerate(VOICES):
            clips = [
                (1.0 + 3.5 * i, audio.speech(text, voice), True)
                for i, text in enumerate(PHRASES[n * 2 : n * 2 + 4] + PHRASES[:2])
            ]
            scene = audio.Scene(1.0 + 3.5 * len(clips), clips)
            detector = SpeechDetector(settings)
            found: list[tuple[int, int]] = []  # (atMs, emitted at ms)
            for frame in audio.frames(scene.render(noise, snr, seed=n)):
                event = detector.feed(frame)
                if isinstance(event, SpeechStarted):
                    found.append((event.at_ms, detector.now_ms))
            for start, clip, _ in clips:
                onsets += 1
                begin, end = start * 1000, (start + len(clip) / 8000) * 1000
                hits = [f for f in found if begin - 200 <= f[0] <= end]
                if not hits:
                    misses += 1
                    continue
                errors.append(hits[0][0] - begin)
                delays.append(hits[0][1] - begin)
            speech = [(s * 1000 - 200, (s + len(c) / 8000) * 1000) for s, c, _ in clips]
            false_starts += sum(1 for at, _ in found if not any(a <= at <= b for a, b in speech))
        out[f"{noise}_{snr:g}dB"] = {
            "onsets": onsets,
            "missed": misses,
            "false_starts": false_starts,
            "at_ms_error_p50": percentile(errors, 0.5),
            "at_ms_error_p95": percentile([abs(e) for e in errors], 0.95),
            "detected_after_onset_ms_p50": percentile(delays, 0.5),
            "detected_after_onset_ms_p95": percentile(delays, 0.95),
        }
    return out


def noise_alone(settings: VadSettings, minutes: float = 10.0) -> dict[str, Any]:
    speech_rms = float(np.sqrt(np.mean(np.concatenate([audio.speech(p) for p in PHRASES]) ** 2)))
    out: dict[str, Any] = {}
    for noise, snr in itertools.product(("white", "pink", "babble"), (10.0, 5.0)):
        make = {"white": audio.white, "pink": audio.pink, "babble": audio.babble}[noise]
        samples = make(minutes * 60, seed=11) * speech_rms / 10 ** (snr / 20)
        detector = SpeechDetector(settings)
        starts = sum(
            isinstance(detector.feed(frame), SpeechStarted)
            for frame in audio.frames(audio.pcm16(samples))
        )
        out[f"{noise}_{snr:g}dB_per_10_min"] = round(starts * 10 / minutes, 2)
    return out


def amd_set() -> dict[str, Any]:
    cases: list[tuple[str, bytes, float | None]] = []
    for (text, voice), (noise, snr) in itertools.product(
        itertools.product(HELLOS, VOICES), ((None, 0.0), ("pink", 20.0), ("white", 10.0))
    ):
        scene = audio.Scene(6.0, [(0.3 + 0.1 * (len(text) % 4), audio.speech(text, voice), True)])
        cases.append(("human", _noisy(scene, noise, snr), None))
    for greeting, voice, (beep_hz, beep_s), (noise, snr) in itertools.product(
        GREETINGS,
        VOICES,
        ((1000.0, 0.2), (1400.0, 0.4), (1000.0, 0.6)),
        ((None, 0.0), ("pink", 20.0)),
    ):
        clip = audio.speech(greeting, voice)
        beep_at = 0.5 + len(clip) / 8000 + 0.4
        clips = [(0.5, clip, True), (beep_at, audio.tone(beep_hz, beep_s), False)]
        cases.append(("machine", _noisy(audio.Scene(beep_at + 1.5, clips), noise, snr), beep_at))
    correct = 0
    decided: dict[str, list[float]] = {"human": [], "machine": []}
    beep_errors: list[float] = []
    wrong: list[str] = []
    for truth, pcm, expected_beep in cases:
        analyser, detector = FrameAnalyser(), MachineDetector(want_beep=True)
        found: list[AmdDecision | Beep] = []
        for frame in audio.frames(pcm):
            found.extend(detector.feed(analyser.analyse(frame, check_all=True)))
        decision = next((f for f in found if isinstance(f, AmdDecision)), None)
        if decision is not None and decision.result == truth:
            correct += 1
            decided[truth].append(decision.after_ms)
        else:
            wrong.append(f"{truth}->{decision.result if decision else None}")
        beep = next((f for f in found if isinstance(f, Beep)), None)
        if expected_beep is not None and beep is not None:
            beep_errors.append(beep.at_ms - expected_beep * 1000)
    return {
        "cases": len(cases),
        "correct_percent": round(100 * correct / len(cases), 1),
        "wrong": wrong,
        "human_decided_ms_p50": percentile(decided["human"], 0.5),
        "human_decided_ms_p95": percentile(decided["human"], 0.95),
        "machine_decided_ms_p50": percentile(decided["machine"], 0.5),
        "machine_decided_ms_p95": percentile(decided["machine"], 0.95),
        "beeps_found": len(beep_errors),
        "beep_error_ms_p50": percentile(beep_errors, 0.5),
        "beep_abs_error_ms_max": max((abs(e) for e in beep_errors), default=None),
    }


def _noisy(scene: audio.Scene, noise: str | None, snr: float) -> bytes:
    return scene.render(noise, snr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-speech-ms", type=int, default=VadSettings().min_speech_ms)
    parser.add_argument("--skip-amd", action="store_true")
    args = parser.parse_args()
    settings = VadSettings(min_speech_ms=args.min_speech_ms)
    result: dict[str, Any] = {
        "min_speech_ms": settings.min_speech_ms,
        "hangover_ms": settings.hangover_ms,
        "vad": vad_set(settings),
        "noise_alone": noise_alone(settings),
    }
    if not args.skip_amd:
        result["amd"] = amd_set()
    print(json.dumps(result, indent=2))
