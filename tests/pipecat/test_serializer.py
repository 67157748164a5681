"""CallgateFrameSerializer frame by frame (the end-to-end proof is test_inbound.py)."""

from __future__ import annotations

from types import SimpleNamespace

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputDTMFUrgentFrame,
    OutputTransportMessageFrame,
)

from callgate.inbound.protocol import IncomingCall
from callgate.media.signals import dominant_frequency_hz, sine_pcm16
from callgate.pipecat.serializer import CallgateFrameSerializer


async def serializer(rate: int = 16000, **params: object) -> CallgateFrameSerializer:
    s = CallgateFrameSerializer(
        IncomingCall("1", "2", "s"), CallgateFrameSerializer.InputParams(**params)
    )
    # setup() reads only the pipeline's input rate (a real FrameProcessorSetup needs a pipeline).
    await s.setup(SimpleNamespace(audio_in_sample_rate=rate))  # type: ignore[arg-type]
    return s


async def test_control_frames_map_to_the_protocol() -> None:
    s = await serializer()
    assert await s.serialize(InterruptionFrame()) == '{"event":"clear"}'
    dtmf = OutputDTMFUrgentFrame(button=KeypadEntry.POUND)
    assert await s.serialize(dtmf) == '{"event":"dtmf","digit":"#","duration":200}'
    assert await s.serialize(OutputTransportMessageFrame(message={"x": 1})) is None
    assert await s.serialize(EndFrame()) == '{"event":"hangup","afterPlayout":true}'
    assert await s.serialize(EndFrame()) is None  # one hangup
    cancel = await serializer(hang_up_after_playout=False)
    assert await cancel.serialize(EndFrame()) == '{"event":"hangup"}'
    assert await (await serializer()).serialize(CancelFrame()) == '{"event":"hangup"}'


async def test_gateway_messages_become_frames() -> None:
    s = await serializer()
    frame = await s.deserialize('{"event":"dtmf","digit":"7"}')
    assert isinstance(frame, InputDTMFFrame)
    assert frame.button is KeypadEntry.SEVEN
    assert await s.deserialize('{"event":"dtmf","digit":"A"}') is None  # no Pipecat key for A
    assert await s.deserialize("not json") is None
    assert await s.deserialize('{"event":"hangup"}') is None
    assert await s.serialize(EndFrame()) is None  # the caller hung up: nothing to send


async def test_audio_is_resampled_both_ways() -> None:
    s = await serializer(rate=24000)
    tone = sine_pcm16(500.0, 0.5)
    got = b""
    for i in range(0, len(tone), 320):
        frame = await s.deserialize(tone[i : i + 320])
        if frame is not None:
            assert isinstance(frame, InputAudioRawFrame)
            assert frame.sample_rate == 24000
            got += frame.audio
    # 3x the samples, less what soxr's streaming filter holds back (under 100 ms at 24 kHz).
    assert 3 * len(tone) - 4800 <= len(got) <= 3 * len(tone)
    assert abs(dominant_frequency_hz(got, rate_hz=24000) - 500) < 3
    out = b""
    for i in range(0, len(got), 960):
        pcm = await s.serialize(OutputAudioRawFrame(got[i : i + 960], 24000, 1))
        assert not isinstance(pcm, str)
        out += pcm or b""
    assert abs(dominant_frequency_hz(out) - 500) < 3
    # Downsampling holds back under 150 ms (2400 bytes at 8 kHz); callgate_transport's output
    # pushes that tail out with a little silence before it hangs up.
    assert len(got) // 3 - 2400 <= len(out) <= len(got) // 3
