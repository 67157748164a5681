"""Recording calls: asked for per call, written while the call runs as a stereo WAV (caller left,
callee right), served to the call's account only, and kept for the retention period."""

from __future__ import annotations

import io
import wave
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callgate.api.auth import create_token
from callgate.calls.recording import CHUNK_FRAMES
from callgate.clock import ManualClock
from callgate.media.pcm import FRAME_BYTES, PCM16, SAMPLE_RATE_HZ, SILENCE_FRAME
from callgate.media.signals import dominant_frequency_hz, rms_dbfs, sine_pcm16
from callgate.media.wav import HEADER_BYTES, header, interleave, repair
from callgate.store.recordings import WavRecordings
from callgate.telephony.simulated.scripts import DEFAULT_SCRIPTS, CalleeScript
from tests.api.conftest import SECRET, Api, running
from tests.api.test_metrics import scrape

# A callee that answers after half a second and plays a 440 Hz tone; the application says 1 kHz.
TONE_CALLEE = CalleeScript(r"0812440\d+", ring_s=0.5, audio="tone", tone_hz=440.0)
SCRIPTS = (TONE_CALLEE, *DEFAULT_SCRIPTS)
APP_HZ = 1000.0


def channels(wav_bytes: bytes) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]:
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (2, 2)
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=PCM16)
    return samples[0::2], samples[1::2], rate


async def place(api: Api, number: str, **extra: Any) -> str:
    response = await api.client.post(
        "/pbx/call", json={"phoneNumber": number, **extra}, headers=api.auth()
    )
    assert response.status_code == 200, response.text
    sid: str = response.json()["data"]["sessionId"]
    return sid


async def hang_up(api: Api, sid: str) -> None:
    response = await api.client.post("/pbx/hangup", json={"sessionId": sid}, headers=api.auth())
    assert response.status_code == 200, response.text


async def cdr(api: Api, sid: str) -> dict[str, Any]:
    data: dict[str, Any] = (await api.client.get(f"/v1/cdr/{sid}", headers=api.auth())).json()[
        "data"
    ]
    return data


def talk_ms(record: dict[str, Any]) -> float:
    answer = datetime.fromisoformat(record["answerTime"])
    end = datetime.fromisoformat(record["endTime"])
    return (end - answer).total_seconds() * 1000


async def test_a_recorded_call_has_the_caller_left_and_the_callee_right(
    database_url: str, tmp_path: Path
) -> None:
    async with running(database_url, tmp_path, simulator_scripts=SCRIPTS) as api:
        sid = await place(api, "0812440001", record=True)
        plain = await place(api, "0812440002")  # no `record`: the default, off
        # The application's 1 kHz, queued before the answer: it plays from the first frame on.
        api.gateway.calls.push_audio("acme", sid, sine_pcm16(APP_HZ, 4.0), "pcm16")
        await api.advance(0.5)  # answered
        live = (await api.client.get("/v1/calls", headers=api.auth())).json()["data"]
        assert {c["sessionId"]: c["recording"] for c in live} == {sid: True, plain: False}
        await api.advance(3.0)
        await hang_up(api, sid)
        await hang_up(api, plain)
        await api.advance(0.1)

        record = await cdr(api, sid)
        assert record["recorded"] is True
        assert (await cdr(api, plain))["recorded"] is False
        response = await api.client.get(f"/v1/recordings/{sid}", headers=api.auth())
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/wav"
        left, right, rate = channels(response.content)
        assert rate == SAMPLE_RATE_HZ
        # The caller (the application, on an outbound call) left; the callee's tone right.
        assert dominant_frequency_hz(left.tobytes()) == pytest.approx(APP_HZ, abs=5)
        assert dominant_frequency_hz(right.tobytes()) == pytest.approx(440.0, abs=5)
        # Whole: each side's level is its tone's from end to end (the app -6 dBFS, the callee -12).
        assert rms_dbfs(left.tobytes()) == pytest.approx(-6.0, abs=0.5)
        assert rms_dbfs(right.tobytes()) == pytest.approx(-12.0, abs=0.5)
        # As long as the call talked, to the frame.
        assert left.size * 1000 / rate == pytest.approx(talk_ms(record), abs=20)
        metrics = await scrape(api)
        assert metrics["callgate_recording_bytes_written_total", ()] == left.size * 4
        assert metrics["callgate_recordings_active", ()] == 0
        assert metrics["callgate_recording_chunks_dropped_total", ()] == 0

        missing = await api.client.get(f"/v1/recordings/{plain}", headers=api.auth())
        assert missing.status_code == 404
        assert missing.json() == {
            "status": 404,
            "errors": f"No recording with sessionId {plain}",
            "data": None,
        }


async def test_another_accounts_recording_is_not_found(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, simulator_scripts=SCRIPTS, record_calls=True) as api:
        sid = await place(api, "0812440003")  # recorded: the gateway's default
        await api.advance(1.5)
        await hang_up(api, sid)
        await api.advance(0.1)
        assert (await cdr(api, sid))["recorded"] is True
        mine = await api.client.get(f"/v1/recordings/{sid}", headers=api.auth())
        assert mine.status_code == 200
        other = create_token(SECRET, "globex")
        theirs = await api.client.get(f"/v1/recordings/{sid}", headers=api.auth(other))
        unknown = await api.client.get(
            "/v1/recordings/0198355b-f324-718b-95a4-625c43c654bc", headers=api.auth()
        )
        garbage = await api.client.get("/v1/recordings/..%2Fcallgate.db", headers=api.auth())
        for refused in (theirs, unknown, garbage):
            assert refused.status_code == 404
            assert refused.json()["status"] == 404
            assert refused.json()["data"] is None
        assert (await api.client.get(f"/v1/recordings/{sid}")).status_code == 401
        opted_out = await place(api, "0812440004", record=False)  # a call may opt out
        await api.advance(1.0)
        await hang_up(api, opted_out)
        await api.advance(0.1)
        assert (await cdr(api, opted_out))["recorded"] is False


async def test_record_must_be_a_boolean(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as api:
        for bad in ("yes", 1, None, [True]):
            response = await api.client.post(
                "/pbx/call", json={"phoneNumber": "0812440005", "record": bad}, headers=api.auth()
            )
            assert response.status_code == 400
            assert response.json() == {
                "status": 400,
                "errors": "record must be a boolean (true to record the call)",
                "data": None,
            }


async def test_a_silent_direction_is_written_as_silence_and_stays_in_step(
    database_url: str, tmp_path: Path
) -> None:
    silent = CalleeScript(r"0812000\d+", ring_s=0.2, audio="silence")
    async with running(database_url, tmp_path, simulator_scripts=(silent, *SCRIPTS)) as api:
        sid = await place(api, "0812000001", record=True)
        await api.advance(0.2)
        api.gateway.calls.push_audio("acme", sid, sine_pcm16(APP_HZ, 1.0), "pcm16")
        await api.advance(2.5)
        await hang_up(api, sid)
        await api.advance(0.1)
        response = await api.client.get(f"/v1/recordings/{sid}", headers=api.auth())
        left, right, rate = channels(response.content)
        assert left.size == right.size
        assert left.size * 1000 / rate == pytest.approx(talk_ms(await cdr(api, sid)), abs=20)
        assert dominant_frequency_hz(left[: rate // 2].tobytes()) == pytest.approx(APP_HZ, abs=5)
        assert not right.any()  # nothing heard: silence, frame for frame
        assert not left[-rate:].any()  # the application's second of audio ended; silence after


def test_interleave_and_repair(tmp_path: Path) -> None:
    left = [sine_pcm16(APP_HZ, 0.02)] * 3
    right = [SILENCE_FRAME] * 3
    block = interleave(left, right)
    assert len(block) == 2 * 3 * FRAME_BYTES
    samples = np.frombuffer(block, dtype=PCM16)
    assert samples[1::2].tolist() == [0] * 480
    assert samples[0::2].tobytes() == b"".join(left)
    with pytest.raises(ValueError, match="channels differ in length"):
        interleave(left, right[:2])
    cut = tmp_path / "cut.wav"
    cut.write_bytes(header(0) + block + b"\x01\x02\x03")  # sizes never patched, a torn sample
    assert repair(cut) == len(block)
    assert cut.stat().st_size == HEADER_BYTES + len(block)
    with wave.open(str(cut)) as reader:
        assert reader.getnframes() == 3 * 160


async def test_retention_deletes_old_recordings_on_the_gateways_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    sink = WavRecordings(tmp_path / "rec", clock, retention_days=7)
    await sink.start()
    try:
        old, new = "0198355b-f324-718b-95a4-625c43c654b1", "0198355b-f324-718b-95a4-625c43c654b2"
        sink.open(old, clock.utcnow())
        assert sink.write(old, [SILENCE_FRAME] * CHUNK_FRAMES, [SILENCE_FRAME] * CHUNK_FRAMES)
        sink.close(old, clock.utcnow())
        clock.set_time(6 * 86400.0)
        sink.open(new, clock.utcnow())
        sink.close(new, clock.utcnow())
        await sink.flush()
        assert await sink.finished_path(old) is not None
        clock.set_time(7 * 86400.0 + 3600)  # the hourly sweep falls due: the first is 7 days old
        clock.advance(0)
        await sink.flush()
        assert await sink.finished_path(old) is None
        assert await sink.finished_path(new) is not None
        assert sink.swept == 1
        clock.set_time(13 * 86400.0 + 7200)
        clock.advance(0)
        await sink.flush()
        assert await sink.finished_path(new) is None
    finally:
        await sink.stop()


async def test_an_unfinished_file_is_repaired_at_start(tmp_path: Path) -> None:
    directory = tmp_path / "rec"
    directory.mkdir()
    sid = "0198355b-f324-718b-95a4-625c43c654b3"
    block = interleave([sine_pcm16(APP_HZ, 0.02)] * 75, [SILENCE_FRAME] * 75)
    # What a killed writer leaves: the header patched after the first second, then half a second.
    (directory / f"{sid}.wav.part").write_bytes(header(len(block) * 2 // 3) + block)
    sink = WavRecordings(directory, ManualClock())
    await sink.start()
    try:
        path = await sink.finished_path(sid)
        assert path is not None
        with wave.open(str(path)) as reader:
            assert reader.getnframes() == 75 * 160
        assert not list(directory.glob("*.part"))
    finally:
        await sink.stop()
