"""Serving inbound calls with Pipecat's FastAPI WebSocket transport.

callgate is the WebSocket *client* here: for each call it connects to the app's server and sends
`incoming_call` first. `answer_call` reads it (the way Pipecat's telephony runners read a provider's
`start` message) and answers; `callgate_transport` builds the transport with `CallgateFrameSerializer`.
"""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import (
    EndFrame,
    OutputAudioRawFrame,
    OutputDTMFFrame,
    OutputDTMFUrgentFrame,
)
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from starlette.websockets import WebSocket

from callgate.inbound.protocol import Answer, IncomingCall, decode_gateway_message, encode
from callgate.pipecat.serializer import CallgateFrameSerializer

INCOMING_CALL_TIMEOUT_S = 10.0
"""How long `answer_call` waits for the gateway's first message (it is sent right after connecting)."""


class NotACall(Exception):
    """The socket's first message was not a valid `incoming_call`."""


async def answer_call(
    websocket: WebSocket, *, answer: bool = True, timeout_s: float = INCOMING_CALL_TIMEOUT_S
) -> IncomingCall:
    """Read the call's `incoming_call` from an accepted WebSocket and (unless `answer` is False)
    answer it: the caller's audio flows from then on. Raises `NotACall` on anything else."""
    text = await asyncio.wait_for(websocket.receive_text(), timeout_s)
    message = decode_gateway_message(text)
    if not isinstance(message, IncomingCall):
        raise NotACall(f"expected incoming_call first, got {text[:80]!r}")
    if answer:
        await websocket.send_text(encode(Answer()))
    return message


TAIL_FLUSH_S = 0.2
"""Silence written before the hangup at an `EndFrame`: it pushes out the last ~150 ms of speech that
the serializer's streaming resampler still holds (Pipecat's own remedy is 2 s of end silence)."""


class _CallgateOutput(FastAPIWebsocketOutputTransport):
    """The FastAPI output with native DTMF (a `dtmf` event per button, not synthesized tones) and
    the resampler's tail flushed before the hangup."""

    async def stop(self, frame: EndFrame) -> None:
        silence = bytes(2 * round(self.sample_rate * TAIL_FLUSH_S))
        await self._write_frame(OutputAudioRawFrame(silence, self.sample_rate, 1))
        await super().stop(frame)

    def _supports_native_dtmf(self) -> bool:
        return True

    async def _write_dtmf_native(self, frame: OutputDTMFFrame | OutputDTMFUrgentFrame) -> None:
        buttons = frame.buttons or ([frame.button] if frame.button is not None else [])
        for button in buttons:
            await self._write_frame(OutputDTMFUrgentFrame(button=button))


class CallgateWebsocketTransport(FastAPIWebsocketTransport):
    """Pipecat's FastAPI WebSocket transport, sending DTMF as callgate `dtmf` events."""

    def __init__(
        self,
        websocket: WebSocket,
        params: FastAPIWebsocketParams,
        input_name: str | None = None,
        output_name: str | None = None,
    ) -> None:
        super().__init__(websocket, params, input_name, output_name)
        self._output = _CallgateOutput(self, self._client, self._params, name=self._output_name)

    def output(self) -> FastAPIWebsocketOutputTransport:
        return self._output


def callgate_transport(
    websocket: WebSocket,
    call: IncomingCall,
    params: FastAPIWebsocketParams | None = None,
    serializer_params: CallgateFrameSerializer.InputParams | None = None,
) -> CallgateWebsocketTransport:
    """The transport for one answered call: `params` with a `CallgateFrameSerializer` for `call`.

    The default params enable audio both ways and send no silence after an `EndFrame` (Pipecat's
    default is 2 s, so that a phone hears the end before the line drops; callgate's hangup after
    playout does that already, and the silence would only hold the line open)."""
    if params is None:
        params = FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, audio_out_end_silence_secs=0
        )
    params.serializer = CallgateFrameSerializer(call, serializer_params)
    return CallgateWebsocketTransport(websocket, params)
