"""The framework for inbound call applications: what an app imports to answer the gateway's calls.

For an incoming call the gateway connects to the application's WebSocket server, sends `incoming_call`,
then the caller's audio (binary, PCM16 8 kHz mono, 320 bytes per 20 ms), DTMF and `hangup`; the
application answers, sends audio, DTMF and `hangup`. This package is the application's end: `call`
(one call as the handler sees it), `server` (the WebSocket server, one connection per call) and `echo`
(the reference application). It speaks the protocol of `callgate.inbound` (the wire model and the
sans-I/O session rules, shared with the gateway's connector) and imports nothing else of the gateway.

An application is one async function per call, served by `InboundServer`:

    from callgate.appkit import AudioFrame, Call, CallerDtmf, InboundServer

    async def handle(call: Call) -> None:
        print("call from", call.caller_id, "to", call.did_number)
        await call.answer()
        await call.send_dtmf("1", duration_ms=200)
        async for event in call:                   # ends when the caller hangs up or the line drops
            if isinstance(event, AudioFrame):
                await call.send_audio(event.pcm16)     # echo; any length, PCM16 8 kHz mono
            elif isinstance(event, CallerDtmf) and event.digit == "#":
                await call.hangup()                    # sends hangup, closes the connection

    async def main() -> None:
        async with InboundServer(handle, host="0.0.0.0", port=4143) as server:
            await server.serve_forever()

For many calls per process there is a lighter style for audio: `call.on_audio(fn)` hands each caller
frame to `fn` as it arrives (no task switch per frame; the event stream keeps DTMF and hangup), and
`call.send_audio_nowait(pcm16)` writes at once, returning False when the gateway is not reading fast
enough (real-time audio is then better dropped than queued). The reference echo app works this way.

Incoming events wait in a bounded queue (`receive_queue_events`, 5 s of audio by default); a handler
that falls behind loses the *oldest audio* (counted in `call.dropped_audio_frames`), never DTMF or hangup.
Audio sent before `answer()` is kept by the gateway and plays from the answer; DTMF before `answer()`
raises `CallStateError`; anything after the call ended raises `CallEnded`, which a handler may simply
let escape. When the handler returns, the call is hung up.
"""

from callgate.appkit.call import Call, CallEvent, EndReason
from callgate.appkit.server import CallHandler, InboundServer, server_ssl_context
from callgate.inbound.protocol import (
    AppDtmf,
    AudioFrame,
    CallerDtmf,
    CallerHangup,
    CloseCode,
    IncomingCall,
    ProtocolError,
)
from callgate.inbound.session import CallEnded, CallStateError, SessionState

__all__ = [
    "AppDtmf",
    "AudioFrame",
    "Call",
    "CallEnded",
    "CallEvent",
    "CallHandler",
    "CallStateError",
    "CallerDtmf",
    "CallerHangup",
    "CloseCode",
    "EndReason",
    "InboundServer",
    "IncomingCall",
    "ProtocolError",
    "SessionState",
    "server_ssl_context",
]
