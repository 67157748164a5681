"""A real `callgate serve` killed with SIGKILL during a recorded call: the WAV it leaves plays, and
the next start repairs it and serves it."""

from __future__ import annotations

import wave
from pathlib import Path

import httpx
import numpy as np
import pytest

from callgate.api.auth import create_token
from callgate.media.pcm import PCM16, SAMPLE_RATE_HZ
from callgate.media.signals import dominant_frequency_hz
from tests.support import database_url
from tests.test_crash_recovery import SECRET, Server, wait_for

__all__ = ["database_url"]

CONFIG = """
record_calls = true

[[simulator.callee]]
pattern = "7.*"
ring_s = 0.2
audio = "tone"
tone_hz = 600.0
"""
TALK_S = 2
TALK_BYTES = TALK_S * SAMPLE_RATE_HZ * 4  # stereo PCM16


def right_channel(path: Path) -> tuple[np.ndarray[tuple[int], np.dtype[np.int16]], int]:
    with wave.open(str(path)) as reader:
        assert reader.getnchannels() == 2
        frames = reader.getnframes()
        samples = np.frombuffer(reader.readframes(frames), dtype=PCM16)
        assert samples.size == 2 * frames  # the header describes exactly what is there
    return samples[1::2], frames


def test_sigkill_mid_recording_leaves_a_playable_wav(tmp_path: Path, database_url: str) -> None:
    server = Server(tmp_path, database_url)
    (tmp_path / "callgate.toml").write_text(CONFIG)
    headers = {"Authorization": f"Bearer {create_token(SECRET, 'acme')}"}
    recordings = tmp_path / "recordings"
    try:
        server.start()
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            response = client.post("/pbx/call", json={"phoneNumber": "7000001"})
            assert response.status_code == 200, response.text
            sid = response.json()["data"]["sessionId"]
            wait_for(
                lambda: (
                    [c["status"] for c in client.get("/v1/calls").json()["data"]] == ["Connected"]
                )
            )
            part = recordings / f"{sid}.wav.part"
            # Killed once two seconds are on disk (written a second at a time, while it talks).
            wait_for(lambda: part.is_file() and part.stat().st_size >= 44 + TALK_BYTES)
        server.kill()

        right, frames = right_channel(part)  # as a player opens it, before any repair
        assert frames >= TALK_S * SAMPLE_RATE_HZ
        assert dominant_frequency_hz(right.tobytes()) == pytest.approx(600.0, abs=5)

        server.start()  # repairs it: the header now covers every whole frame on disk
        assert not part.exists()
        done = recordings / f"{sid}.wav"
        _, repaired = right_channel(done)
        assert repaired >= frames
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            record = client.get(f"/v1/cdr/{sid}").json()["data"]
            assert record["recorded"] is True
            assert record["hangupCauseCode"] == 127  # closed by the restart
            served = client.get(f"/v1/recordings/{sid}")
            assert served.status_code == 200
            assert served.content == done.read_bytes()
    finally:
        server.stop()
