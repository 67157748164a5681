"""Pipecat on callgate: a bot built with Pipecat answers inbound calls and drives outbound ones.

Needs the optional extra: `pip install 'callgate[pipecat]'` (it pins `pipecat-ai`).

Inbound (`callgate.pipecat.inbound`): callgate connects to your WebSocket server for each call; a
FastAPI endpoint accepts it, `answer_call` reads `incoming_call` and answers, and
`CallgateFrameSerializer` (with `callgate_transport`, Pipecat's FastAPI WebSocket transport with
DTMF sent as callgate `dtmf` events instead of in-band tones) turns the protocol into frames:

    @app.websocket("/")
    async def bot(websocket: WebSocket) -> None:
        await websocket.accept()
        call = await answer_call(websocket)
        transport = callgate_transport(websocket, call, FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True))
        task = PipelineTask(Pipeline([transport.input(), ..., transport.output()]))
        await PipelineRunner(handle_sigint=False).run(task)

Outbound (`callgate.pipecat.outbound`): `CallgateCallTransport` makes a call placed with
`callgate.client` (REST + Socket.IO) the pipeline's input and output:

    call = await cg.dial("089608675796")
    await call.connected()
    transport = CallgateCallTransport(call)
    worker = PipelineWorker(Pipeline([transport.input(), ..., transport.output()]))
"""

from __future__ import annotations

from callgate.pipecat.serializer import CallgateFrameSerializer

__all__ = ["CallgateFrameSerializer"]
