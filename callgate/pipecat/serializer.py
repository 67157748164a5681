"""`CallgateFrameSerializer`: Pipecat frames ⇄ callgate's inbound WebSocket protocol.

What maps to what (the protocol in `callgate.inbound.protocol`):
- caller audio (binary PCM16 8 kHz) → `InputAudioRawFrame` at the pipeline's input rate;
  `OutputAudioRawFrame` at any rate → binary PCM16 8 kHz;
- `{"event":"dtmf"}` from the gateway → `InputDTMFFrame`; `OutputDTMFFrame`/`OutputDTMFUrgentFrame`
  → `{"event":"dtmf","digit","duration"}` (one message per frame: `callgate_transport` splits a
  frame of several buttons, so each gets its own);
- `InterruptionFrame` → `{"event":"clear"}` (an addition: the gateway drops the audio it has queued,
  which Pipecat's WebSocket output runs ahead of real time);
- `EndFrame` → `{"event":"hangup","afterPlayout":true}` (an addition: the goodbye already sent is
  heard first); `CancelFrame` → `{"event":"hangup"}` at once.
- `{"event":"hangup"}` from the gateway: no frame; the gateway then closes the socket and Pipecat's
  transport raises `on_client_disconnected`.
Frames that mean nothing to the protocol (transport messages, RTVI) are not sent: the gateway would
count them as protocol errors.
"""

from __future__ import annotations

from typing import Final

from loguru import logger
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    AudioRawFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputDTMFFrame,
    OutputDTMFUrgentFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer

from callgate.inbound.protocol import (
    DEFAULT_DTMF_DURATION_MS,
    AppClear,
    AppDtmf,
    AppHangup,
    CallerDtmf,
    CallerHangup,
    IncomingCall,
    ProtocolError,
    decode_gateway_message,
    encode,
)

CALLGATE_SAMPLE_RATE: Final = 8000
"""The protocol's audio: PCM16 little-endian mono at 8 kHz, both ways."""


class CallgateFrameSerializer(FrameSerializer):
    """Serializer for one inbound call's WebSocket (see the module docstring for the mapping)."""

    class InputParams(FrameSerializer.InputParams):
        """`sample_rate`: the pipeline's input rate, if not the pipeline's own `audio_in_sample_rate`.
        `hang_up_after_playout`: an `EndFrame` hangs up once queued audio has played (else at once).
        `dtmf_duration_ms`: how long each DTMF tone sent to the caller lasts (1-1000)."""

        sample_rate: int | None = None
        hang_up_after_playout: bool = True
        dtmf_duration_ms: int = DEFAULT_DTMF_DURATION_MS

    def __init__(self, call: IncomingCall | None = None, params: InputParams | None = None) -> None:
        params = params or CallgateFrameSerializer.InputParams()
        super().__init__(params)
        self._callgate_params = params
        self.call = call
        """The call's `incoming_call` (from `answer_call`, or seen by `deserialize`)."""
        self._sample_rate = 0
        self._input_resampler = create_stream_resampler(
            clear_after_secs=params.resampler_clear_after_secs
        )
        self._output_resampler = create_stream_resampler(
            clear_after_secs=params.resampler_clear_after_secs
        )
        self._ended = False  # hangup sent or received: nothing more goes out

    # Pipecat's FrameSerializer.setup takes a FrameProcessorSetup, but its base class declares a
    # task manager: the override is what Pipecat itself calls.
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        self._sample_rate = self._callgate_params.sample_rate or setup.audio_in_sample_rate

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if self._ended:
            return None
        if isinstance(frame, AudioRawFrame):
            pcm = await self._output_resampler.resample(
                frame.audio, frame.sample_rate, CALLGATE_SAMPLE_RATE
            )
            return pcm or None
        if isinstance(frame, InterruptionFrame):
            return encode(AppClear())
        if isinstance(frame, OutputDTMFFrame | OutputDTMFUrgentFrame):
            buttons = frame.buttons or ([frame.button] if frame.button is not None else [])
            if not buttons:
                return None
            if len(buttons) > 1:
                logger.warning(f"{self}: one DTMF message per frame; sending only {buttons[0]}")
            digit = buttons[0].value
            return encode(AppDtmf(digit, self._callgate_params.dtmf_duration_ms))
        if isinstance(frame, EndFrame | CancelFrame):
            self._ended = True
            graceful = isinstance(frame, EndFrame) and self._callgate_params.hang_up_after_playout
            return encode(AppHangup(after_playout=graceful))
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            if self._ended or len(data) % 2:
                return None
            rate = self._sample_rate or CALLGATE_SAMPLE_RATE
            pcm = await self._input_resampler.resample(data, CALLGATE_SAMPLE_RATE, rate)
            if not pcm:
                return None
            return InputAudioRawFrame(audio=pcm, sample_rate=rate, num_channels=1)
        try:
            message = decode_gateway_message(data)
        except ProtocolError as exc:
            logger.warning(f"{self}: {exc.message}; ignored")
            return None
        match message:
            case CallerDtmf(digit=digit):
                try:
                    return InputDTMFFrame(button=KeypadEntry(digit))
                except ValueError:  # A-D: the protocol has them, Pipecat's keypad does not
                    logger.info(f"{self}: DTMF {digit} has no Pipecat keypad entry; ignored")
                    return None
            case CallerHangup():
                self._ended = True
            case IncomingCall():
                self.call = message
        return None
