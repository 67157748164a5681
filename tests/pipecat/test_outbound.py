"""A Pipecat pipeline drives an outbound call placed through callgate.client (CallgateCallTransport)
against a real `callgate serve` on the simulated carrier: no network services, the proof is audio.

The echo callee sends back what it hears one frame later, so what the pipeline says comes back to
its input; the 440 callee plays a tone, which an echo pipeline sends back into the call, where the
call's recording (application on the left channel) shows it.
"""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path

import httpx
import numpy as np
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    OutputAudioRawFrame,
    OutputDTMFUrgentFrame,
    StartFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from callgate.api.auth import create_token
from callgate.client import Cdr, Client
from callgate.media.signals import dominant_frequency_hz, rms_dbfs, sine_pcm16
from callgate.pipecat.outbound import CallgateCallTransport
from tests.pipecat.bots import PIPELINE_RATE, BotLog, Echo
from tests.served import served

SECRET = "pipecat-outbound-secret-" + "o" * 40
SPOKEN_HZ = 700.0
FRAME_16K = 640  # 20 ms at 16 kHz


class Speaker(FrameProcessor):
    """Says one second of a tone, listens to what comes back, presses 5, and ends the call once
    the far end pressed it back."""

    def __init__(self) -> None:
        super().__init__()
        self.heard = bytearray()
        self.rates: set[int] = set()
        self.digits: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            tone = sine_pcm16(SPOKEN_HZ, 1.0, rate_hz=PIPELINE_RATE)
            await self.push_frame(OutputAudioRawFrame(tone, PIPELINE_RATE, 1))
        elif isinstance(frame, InputAudioRawFrame):
            self.rates.add(frame.sample_rate)
            self.heard += frame.audio
            if self.digits == [] and len(self.heard) >= 2 * PIPELINE_RATE * 2:  # 2 s listened
                self.digits.append("sent")
                await self.push_frame(OutputDTMFUrgentFrame(button=KeypadEntry.FIVE))
        elif isinstance(frame, InputDTMFFrame):
            self.digits.append(frame.button.value)
            await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)
        else:
            await self.push_frame(frame, direction)


async def run_pipeline(transport: CallgateCallTransport, bot: FrameProcessor) -> list[Cdr]:
    worker = PipelineWorker(
        Pipeline([transport.input(), bot, transport.output()]),
        params=PipelineParams(
            audio_in_sample_rate=PIPELINE_RATE, audio_out_sample_rate=PIPELINE_RATE
        ),
    )
    ended: list[Cdr] = []

    @transport.event_handler("on_call_ended")
    async def _ended(_transport: object, cdr: Cdr) -> None:
        ended.append(cdr)

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(runner.run(), 30)
    return ended


def voiced_frames(pcm: bytes, frame_bytes: int) -> list[bytes]:
    frames = [pcm[i : i + frame_bytes] for i in range(0, len(pcm) - frame_bytes + 1, frame_bytes)]
    return [f for f in frames if rms_dbfs(f) > -30]


async def test_a_pipeline_speaks_listens_and_presses_keys_on_an_outbound_call(
    tmp_path: Path,
) -> None:
    token = create_token(SECRET, "acme", 300)
    bot = Speaker()
    with served(tmp_path / "data", tmp_path / "serve.err", jwt_secret=SECRET) as url:
        async with Client(url, token) as cg:
            call = await cg.dial("0812345678")
            await call.connected()
            ended = await run_pipeline(CallgateCallTransport(call), bot)
            cdr = await call.cdr()
    assert bot.rates == {PIPELINE_RATE}
    echo = voiced_frames(bytes(bot.heard), FRAME_16K)
    # the pipeline's second of tone came back through the call: its pitch, its length
    assert abs(dominant_frequency_hz(b"".join(echo), rate_hz=PIPELINE_RATE) - SPOKEN_HZ) < 10
    assert 47 <= len(echo) <= 53, len(echo)
    assert bot.digits == ["sent", "5"]  # OutputDTMFUrgentFrame out, the callee's key back in
    assert (cdr.disposition, cdr.hangup_by, cdr.hangup_cause_code) == ("ANSWERED", "CALLER", 16)
    assert ended == [cdr]


async def test_an_echo_pipeline_sends_the_callees_tone_back(tmp_path: Path) -> None:
    token = create_token(SECRET, "acme", 300)
    settings = {"jwt_secret": SECRET}
    with served(tmp_path / "data", tmp_path / "serve.err", **settings) as url:
        async with Client(url, token) as cg:
            call = await cg.dial("0812345440", record=True)
            await call.connected()
            transport = CallgateCallTransport(call)
            log = BotLog()

            async def hang_up_later() -> None:
                await asyncio.sleep(1.5)
                await call.hangup()

            later = asyncio.create_task(hang_up_later())
            ended = await run_pipeline(transport, Echo(log))
            await later
            cdr = await call.cdr()
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            auth = {"Authorization": f"Bearer {token}"}
            recording = await http.get(f"/v1/recordings/{cdr.session_id}", headers=auth)
    assert recording.status_code == 200, recording.text
    assert ended == [cdr]  # the call's end ended the pipeline
    assert log.input_rates == {PIPELINE_RATE}
    with wave.open(io.BytesIO(recording.content)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    sent, callee = samples[0::2], samples[1::2]
    assert abs(dominant_frequency_hz(callee[:8000].tobytes()) - 440) < 5
    echoed = sent[int(0.3 * 8000) : int(1.3 * 8000)]  # what the pipeline put into the call
    assert rms_dbfs(echoed.tobytes()) > -30
    assert abs(dominant_frequency_hz(echoed.tobytes()) - 440) < 5
