"""An inbound route that records: the far party (the caller) on the left, the application on the
right, through the real connector and the reference echo app, in real time."""

from __future__ import annotations

import dataclasses
import wave
from pathlib import Path

import numpy as np
import pytest

from callgate.appkit.echo import EchoTimings
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.inbound.routes import InboundRoute
from callgate.media.pcm import PCM16, SAMPLE_RATE_HZ
from callgate.media.signals import dominant_frequency_hz, rms_dbfs
from callgate.telephony.simulated import CallerScript, SimulatedCarrier
from tests.inbound.test_end_to_end import python_echo_app
from tests.support import ended_record

CALLER_HZ = 500.0


async def test_a_recording_route_records_the_caller_left_and_the_app_right(tmp_path: Path) -> None:
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret="inbound-recording-secret-" + "r" * 40,
    )
    async with python_echo_app(EchoTimings(dtmf_after_s=0.5, hangup_after_dtmf_s=1.5)) as port:
        routes = (
            InboundRoute(r"021555\d+", f"ws://127.0.0.1:{port}", "acme", record=True),
            InboundRoute(r".*", f"ws://127.0.0.1:{port}", "acme"),  # record_calls: off
        )
        gateway = Gateway.build(dataclasses.replace(config, inbound_routes=routes))
        await gateway.start()
        try:
            carrier = gateway.trunk
            assert isinstance(carrier, SimulatedCarrier)
            caller = CallerScript(audio="tone", tone_hz=CALLER_HZ)
            recorded = carrier.offer_inbound("081122334455", "0215551234", caller)
            plain = carrier.offer_inbound("081122334466", "0219999999", caller)
            record = await ended_record(gateway, "acme", recorded)
            assert record.recorded
            assert not (await ended_record(gateway, "acme", plain)).recorded
            path = await gateway.recordings.finished_path(recorded)
            assert path is not None
            assert await gateway.recordings.finished_path(plain) is None
        finally:
            await gateway.stop()
    with wave.open(str(path)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype=PCM16)
    left, right = samples[0::2], samples[1::2]
    assert record.answer_time is not None
    assert record.end_time is not None
    talk_s = (record.end_time - record.answer_time).total_seconds()
    # On the real clock a loaded loop may run a tick or two late at the hangup (the stepped-clock
    # test in tests/api/test_recordings.py holds the length to one frame).
    assert left.size / SAMPLE_RATE_HZ == pytest.approx(talk_s, abs=0.1)
    assert dominant_frequency_hz(left.tobytes()) == pytest.approx(CALLER_HZ, abs=5)  # the caller
    # The app echoes the caller a little later: its channel starts silent, then carries the tone.
    assert rms_dbfs(left[:160].tobytes()) > -20
    assert rms_dbfs(right[:160].tobytes()) < -60
    assert dominant_frequency_hz(right[SAMPLE_RATE_HZ // 2 :].tobytes()) == pytest.approx(
        CALLER_HZ, abs=5
    )
