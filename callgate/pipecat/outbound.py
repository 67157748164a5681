"""A Pipecat transport for a call placed through `callgate.client`: the call is the pipeline's
microphone and speaker.

Why a transport and not a serializer: Pipecat's serializers sit inside its WebSocket transports and
turn one socket's messages into frames. An outbound call lives on the Outgoing Call Service's
Socket.IO connection, shared by every call of the bot process, with acks, rooms and reconnects that
`callgate.client` already handles; a transport that owns a client object (as Pipecat's Daily and
LiveKit transports own their SDK's room) is Pipecat's convention for that, and keeps one connection
for hundreds of calls.

    async with Client(url, token) as cg:
        call = await cg.dial("089608675796")
        await call.connected()
        transport = CallgateCallTransport(call)
        worker = PipelineWorker(Pipeline([transport.input(), bot, transport.output()]), ...)

In: the far party's 8 kHz audio as `InputAudioRawFrame` at the pipeline's input rate, their keys as
`InputDTMFFrame`. When the call ends, `on_call_ended(transport, cdr)` fires (once, whoever ended
it), and if the far party (or REST) ended it an `EndWorkerFrame` goes upstream
(`end_worker_on_hangup=False` leaves that to you). Out: audio at any rate resampled
to 8 kHz and sent with `Call.send_audio` (paced by the gateway's queuedMs, `lead_ms` ahead);
`InterruptionFrame` interrupts the call's playout; `OutputDTMFFrame`s are sent as `dtmf` events;
`EndFrame` hangs up after the queued audio has been heard, `CancelFrame` at once.
"""

from __future__ import annotations

import asyncio
import contextlib

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputDTMFFrame,
    OutputDTMFUrgentFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from callgate.client import Call, CallEnded, Cdr, Dtmf, Ended
from callgate.client.audio import CHUNK_BYTES

CALLGATE_RATE_HZ = 8000


class CallgateCallParams(TransportParams):
    """TransportParams plus: how far ahead of the far party audio is sent, and what ends what."""

    audio_in_enabled: bool = True
    audio_out_enabled: bool = True
    audio_out_end_silence_secs: int = 0  # the hangup after playout lets the goodbye be heard
    lead_ms: int = 200  # short: an interruption discards at most this much
    hang_up_after_playout: bool = True
    end_worker_on_hangup: bool = True
    dtmf_duration_ms: int = 200


class CallgateCallInput(BaseInputTransport):
    def __init__(self, transport: CallgateCallTransport, call: Call, params: CallgateCallParams):
        super().__init__(params)
        self._transport = transport
        self._call = call
        self._callgate_params = params
        self._resampler = create_stream_resampler()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if self._reader is None:
            self._reader = self.create_task(self._read())
        await self.set_transport_ready(frame)

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        await self._stop_reader()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._stop_reader()

    async def _stop_reader(self) -> None:
        if self._reader is not None:
            await self.cancel_task(self._reader)
            self._reader = None

    async def _read(self) -> None:
        rate = self.sample_rate
        async for event in self._call:
            if isinstance(event, Ended):
                await self._transport._ended(event.cdr)
                if self._callgate_params.end_worker_on_hangup:
                    await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)
                return
            if isinstance(event, Dtmf):
                with contextlib.suppress(ValueError):  # A-D have no Pipecat keypad entry
                    await self.push_frame(InputDTMFFrame(button=KeypadEntry(event.digit)))
                continue
            pcm16 = getattr(event, "pcm16", None)
            if pcm16 is None or not self._params.audio_in_enabled:
                continue
            audio = await self._resampler.resample(pcm16, CALLGATE_RATE_HZ, rate)
            if audio:
                await self.push_audio_frame(
                    InputAudioRawFrame(audio=audio, sample_rate=rate, num_channels=1)
                )


class CallgateCallOutput(BaseOutputTransport):
    def __init__(self, transport: CallgateCallTransport, call: Call, params: CallgateCallParams):
        super().__init__(params)
        self._transport = transport
        self._call = call
        self._callgate_params = params
        self._resampler = create_stream_resampler()
        self._pending = b""  # 8 kHz audio not yet sent: sent in 160 ms chunks at most

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)  # the audio queued before the EndFrame goes out first
        # What the streaming resampler still holds (its filter delay) is the end of the speech.
        tail = await self._resampler.resample(
            bytes(2 * self.sample_rate // 5), self.sample_rate, 8000
        )
        with contextlib.suppress(CallEnded):
            await self._send(self._pending + tail)
        cdr = await self._call.hangup(after_playout=self._callgate_params.hang_up_after_playout)
        await self._transport._ended(cdr)

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._transport._ended(await self._call.hangup())

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self._pending = b""
            with contextlib.suppress(CallEnded):
                await self._call.interrupt()

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if self._call.ended:
            return False
        pcm = await self._resampler.resample(frame.audio, frame.sample_rate, CALLGATE_RATE_HZ)
        self._pending += pcm
        if len(self._pending) < CHUNK_BYTES // 4:  # 40 ms: fewer, larger events
            return True
        chunk, self._pending = self._pending, b""
        try:
            await self._send(chunk)
        except CallEnded:
            return False
        return True

    async def _send(self, pcm16: bytes) -> None:
        for start in range(0, len(pcm16), CHUNK_BYTES):
            await self._call.send_audio(
                pcm16[start : start + CHUNK_BYTES], lead_ms=self._callgate_params.lead_ms
            )

    def _supports_native_dtmf(self) -> bool:
        return True

    async def _write_dtmf_native(self, frame: OutputDTMFFrame | OutputDTMFUrgentFrame) -> None:
        buttons = frame.buttons or ([frame.button] if frame.button is not None else [])
        with contextlib.suppress(CallEnded):
            await self._call.send_dtmf(
                "".join(b.value for b in buttons),
                duration_ms=self._callgate_params.dtmf_duration_ms,
            )


class CallgateCallTransport(BaseTransport):
    """Input and output for one call placed (or followed) through `callgate.client`."""

    def __init__(
        self,
        call: Call,
        params: CallgateCallParams | None = None,
        input_name: str | None = None,
        output_name: str | None = None,
    ) -> None:
        super().__init__(input_name=input_name, output_name=output_name)
        self.call = call
        self._params = params or CallgateCallParams()
        self._input: CallgateCallInput | None = None
        self._output: CallgateCallOutput | None = None
        self._ended_fired = False
        self._register_event_handler("on_call_ended")

    def input(self) -> FrameProcessor:
        if self._input is None:
            self._input = CallgateCallInput(self, self.call, self._params)
        return self._input

    def output(self) -> FrameProcessor:
        if self._output is None:
            self._output = CallgateCallOutput(self, self.call, self._params)
        return self._output

    async def _ended(self, cdr: Cdr) -> None:
        """`on_call_ended` once, whoever ended the call (the far party, or the pipeline)."""
        if not self._ended_fired:
            self._ended_fired = True
            await self._call_event_handler("on_call_ended", cdr)


__all__ = ["CallgateCallParams", "CallgateCallTransport"]
