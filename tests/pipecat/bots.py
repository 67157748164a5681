"""Pipecat bots for the tests: real pipelines on Pipecat's FastAPI WebSocket transport, no vendors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI, WebSocket
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    OutputAudioRawFrame,
    OutputDTMFUrgentFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from callgate.pipecat.inbound import answer_call, callgate_transport

PIPELINE_RATE = 16000  # not the gateway's 8 kHz: the serializer resamples both ways


@dataclass
class BotLog:
    """What the bots saw, for the test to check."""

    calls: list[str] = field(default_factory=list)  # sessionIds answered
    digits: list[str] = field(default_factory=list)
    input_rates: set[int] = field(default_factory=set)
    input_bytes: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class Echo(FrameProcessor):
    """Input audio back out; DTMF `reply_to` answered with `reply`; `hangup_on` ends the call."""

    def __init__(self, log: BotLog, *, reply_to: str = "5", reply: str = "7", hangup_on: str = "#"):
        super().__init__()
        self.log, self.reply_to, self.reply, self.hangup_on = log, reply_to, reply, hangup_on

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.log.input_rates.add(frame.sample_rate)
            self.log.input_bytes += len(frame.audio)
            await self.push_frame(
                OutputAudioRawFrame(frame.audio, frame.sample_rate, frame.num_channels)
            )
        elif isinstance(frame, InputDTMFFrame):
            self.log.digits.append(frame.button.value)
            if frame.button.value == self.reply_to:
                await self.push_frame(OutputDTMFUrgentFrame(button=KeypadEntry(self.reply)))
            elif frame.button.value == self.hangup_on:
                await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)
        else:
            await self.push_frame(frame, direction)


def echo_app(log: BotLog, *, hangup_after_s: float | None = None) -> FastAPI:
    """A FastAPI app whose `/` WebSocket answers each call with the `Echo` pipeline; with
    `hangup_after_s`, it also ends the call that long after answering."""
    app = FastAPI()

    @app.websocket("/")
    async def bot(websocket: WebSocket) -> None:
        await websocket.accept()
        call = await answer_call(websocket)
        log.calls.append(call.session_id)
        transport = callgate_transport(websocket, call)
        worker = PipelineWorker(
            Pipeline([transport.input(), Echo(log), transport.output()]),
            params=PipelineParams(
                audio_in_sample_rate=PIPELINE_RATE, audio_out_sample_rate=PIPELINE_RATE
            ),
        )

        @transport.event_handler("on_client_disconnected")
        async def _gone(_transport: object, _ws: object) -> None:
            await worker.cancel()

        async def end_later(delay_s: float) -> None:
            await asyncio.sleep(delay_s)
            await worker.stop_when_done()

        timer = None if hangup_after_s is None else asyncio.create_task(end_later(hangup_after_s))
        try:
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(worker)
            await runner.run()
        finally:
            if timer is not None:
                timer.cancel()
            log.finished.set()

    return app


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI) -> AsyncIterator[int]:
    """`app` under uvicorn on a free loopback port (yielded), stopped after."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        port: int = server.servers[0].sockets[0].getsockname()[1]
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
