"""A Pipecat bot answers callgate's inbound calls: a real `callgate serve` on the simulated carrier
dials it, the bot echoes (through Pipecat's FastAPI WebSocket transport and CallgateFrameSerializer,
at 16 kHz) and hangs up on a DTMF key or after a while; the call's recording and CDR prove it."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import wave
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np

from callgate.api.auth import create_token
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.inbound.routes import InboundRoute
from callgate.media.signals import dominant_frequency_hz, rms_dbfs
from callgate.telephony.simulated import CallerScript, SimulatedCarrier
from tests.pipecat.bots import PIPELINE_RATE, BotLog, echo_app, serve_app
from tests.served import served
from tests.support import ended_record

SECRET = "pipecat-inbound-secret-" + "p" * 40
TONE_HZ = 600.0


def talk_s(cdr: dict) -> float:
    answered = datetime.fromisoformat(cdr["answerTime"])
    return (datetime.fromisoformat(cdr["endTime"]) - answered).total_seconds()


async def cdr_when_ended(client: httpx.AsyncClient, url: str, sid: str, auth: dict) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        response = await client.get(f"{url}/v1/cdr/{sid}", headers=auth)
        if response.status_code == 200 and response.json()["data"]["endTime"] is not None:
            return response.json()["data"]
        assert loop.time() < deadline, f"call {sid} did not end"
        await asyncio.sleep(0.1)


def channels(wav_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return samples[0::2], samples[1::2]


async def simulated_call(tmp_path: Path, port: int, body: dict) -> tuple[dict, bytes]:
    """`callgate serve` routing every DID to the bot on `port`, recording; one simulated call with
    `body`; its CDR (once ended) and recording."""
    settings = {
        "jwt_secret": SECRET,
        "inbound_url": f"ws://127.0.0.1:{port}/",
        "inbound_account": "acme",
        "record_calls": "true",
    }
    auth = {"Authorization": f"Bearer {create_token(SECRET, 'acme', 300)}"}
    with served(tmp_path / "data", tmp_path / "serve.err", **settings) as url:
        async with httpx.AsyncClient(timeout=10) as client:
            offered = await client.post(f"{url}/v1/simulate/inbound", json=body, headers=auth)
            assert offered.status_code == 200, offered.text
            sid = offered.json()["data"]["sessionId"]
            cdr = await cdr_when_ended(client, url, sid, auth)
            recording = await client.get(f"{url}/v1/recordings/{sid}", headers=auth)
            assert recording.status_code == 200, recording.text
    return cdr, recording.content


async def test_a_pipecat_bot_echoes_and_hangs_up_on_a_key(tmp_path: Path) -> None:
    log = BotLog()
    body = {
        "callerId": "081122334455",
        "didNumber": "0215551234",
        "audio": "tone",
        "toneHz": TONE_HZ,
        "dtmf": [[0.5, "5"], [1.5, "#"]],
    }
    async with serve_app(echo_app(log)) as port:
        cdr, wav = await simulated_call(tmp_path, port, body)
        await asyncio.wait_for(log.finished.wait(), 10)
    assert log.calls == [cdr["sessionId"]]
    assert log.digits == ["5", "#"]  # the caller's keys reached the pipeline as InputDTMFFrames
    assert log.input_rates == {PIPELINE_RATE}  # resampled to the pipeline's rate
    # The bot hung up (EndFrame → hangup after playout) once "#" came, 1.5 s after the answer.
    assert (cdr["disposition"], cdr["hangupBy"], cdr["hangupCauseCode"]) == (
        "ANSWERED",
        "CALLEE",
        16,
    )
    assert (cdr["direction"], cdr["destination"], cdr["callerId"]) == (
        "inbound",
        "0215551234",
        "081122334455",
    )
    assert 1.5 <= talk_s(cdr) < 2.5
    caller, bot = channels(wav)
    # What the bot sent to the call is the caller's tone, back through two resamplers.
    echoed = bot[int(0.4 * 8000) : int(1.4 * 8000)]
    assert rms_dbfs(echoed.tobytes()) > -30
    assert abs(dominant_frequency_hz(echoed.tobytes()) - TONE_HZ) < 5
    assert abs(dominant_frequency_hz(caller[:8000].tobytes()) - TONE_HZ) < 5


async def test_a_pipecat_bot_hangs_up_after_its_time(tmp_path: Path) -> None:
    log = BotLog()
    body = {"callerId": "081122334455", "didNumber": "0215551234", "audio": "tone"}
    async with serve_app(echo_app(log, hangup_after_s=1.0)) as port:
        cdr, wav = await simulated_call(tmp_path, port, body)
        await asyncio.wait_for(log.finished.wait(), 10)
    assert (cdr["disposition"], cdr["hangupBy"], cdr["hangupCauseCode"]) == (
        "ANSWERED",
        "CALLEE",
        16,
    )
    assert 1.0 <= talk_s(cdr) < 2.0
    _, bot = channels(wav)
    assert abs(dominant_frequency_hz(bot[int(0.3 * 8000) : int(0.9 * 8000)].tobytes()) - 440) < 5


async def test_dtmf_from_the_pipeline_reaches_the_caller(tmp_path: Path) -> None:
    """The gateway in-process, so the simulated caller's ears can be read: the bot's
    OutputDTMFUrgentFrame arrives as a DTMF key, not as in-band tones."""
    log = BotLog()
    async with serve_app(echo_app(log)) as port:
        config = load_config(
            environ={},
            data_dir=str(tmp_path),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
            jwt_secret=SECRET,
        )
        route = InboundRoute(r".*", f"ws://127.0.0.1:{port}/", "acme")
        gateway = Gateway.build(dataclasses.replace(config, inbound_routes=(route,)))
        await gateway.start()
        try:
            carrier = gateway.trunk
            assert isinstance(carrier, SimulatedCarrier)
            script = CallerScript(audio="tone", dtmf=((0.4, "5"), (1.0, "#")), record=True)
            sid = carrier.offer_inbound("081122334455", "0215551234", script)
            record = await ended_record(gateway, "acme", sid)
        finally:
            await gateway.stop()
        await asyncio.wait_for(log.finished.wait(), 10)
    assert carrier.recordings[sid].dtmf == ["7"]
    assert (record.disposition, record.hangup_by) == ("ANSWERED", "CALLEE")
