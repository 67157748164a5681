"""Inbound calls end to end, in real time: a simulated caller → the gateway's connector → an app.

The apps are callgate's reference echo app and an app written in JavaScript from the spec alone; both
run the spec's call flow (answer, DTMF "1" after a delay, echo, hang up after another delay).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callgate.appkit.echo import EchoTimings, run_echo_app
from callgate.calls.records import CallRecord
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.inbound.routes import InboundRoute
from callgate.media.signals import align
from callgate.telephony.simulated import CallerScript, SimulatedCarrier
from callgate.telephony.simulated.carrier import caller_speech_pcm16
from tests.support import ended_record, need, need_program

DTMF_AFTER_S = 0.3
HANGUP_AFTER_DTMF_S = 1.0
JS_DIR = Path(__file__).resolve().parents[1] / "js"


@contextlib.asynccontextmanager
async def python_echo_app(timings: EchoTimings | None = None) -> AsyncIterator[int]:
    """callgate.appkit's echo app on a free port (yielded), with `timings` or this file's."""
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    if timings is None:
        timings = EchoTimings(dtmf_after_s=DTMF_AFTER_S, hangup_after_dtmf_s=HANGUP_AFTER_DTMF_S)
    task = asyncio.create_task(run_echo_app("127.0.0.1", 0, timings=timings, ready=ready))
    try:
        yield await asyncio.wait_for(ready, 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def javascript_echo_app() -> AsyncIterator[int]:
    node = need_program("node")
    need((JS_DIR / "node_modules" / "ws").is_dir(), "ws is not installed: run `npm ci` in tests/js")
    args = [
        node,
        "inbound_app.mjs",
        "0",
        str(int(DTMF_AFTER_S * 1000)),
        str(int(HANGUP_AFTER_DTMF_S * 1000)),
    ]
    proc = await asyncio.create_subprocess_exec(*args, cwd=JS_DIR, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        yield int(json.loads(line)["listening"])
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


def frames_of(pcm16: bytes) -> list[bytes]:
    return [pcm16[i : i + 320] for i in range(0, len(pcm16) - 319, 320)]


async def call_through(tmp_path: Path, port: int) -> tuple[CallRecord, SimulatedCarrier, str]:
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret="e2e-inbound-secret-" + "e" * 40,
    )
    route = InboundRoute(r".*", f"ws://127.0.0.1:{port}", "acme")
    gateway = Gateway.build(dataclasses.replace(config, inbound_routes=(route,)))
    await gateway.start()
    try:
        carrier = gateway.trunk
        assert isinstance(carrier, SimulatedCarrier)
        sid = carrier.offer_inbound("081122334455", "0215551234", CallerScript(record=True))
        return await ended_record(gateway, "acme", sid), carrier, sid
    finally:
        await gateway.stop()


@pytest.mark.parametrize(
    "app", [python_echo_app, javascript_echo_app], ids=["python", "javascript"]
)
async def test_the_specs_call_flow(tmp_path: Path, app: object) -> None:
    assert callable(app)
    async with app() as port:
        record, carrier, sid = await call_through(tmp_path, port)
    heard = carrier.recordings[sid]
    # The app answered, pressed 1 after DTMF_AFTER_S, and hung up HANGUP_AFTER_DTMF_S later.
    assert heard.dtmf == ["1"]
    assert (record.disposition, record.hangup_by, record.hangup_cause_code) == (
        "ANSWERED",
        "CALLEE",
        16,
    )
    assert (record.direction, record.destination, record.caller_id) == (
        "inbound",
        "0215551234",
        "081122334455",
    )
    assert record.answer_time is not None
    assert record.end_time is not None
    talk_s = (record.end_time - record.answer_time).total_seconds()
    # The app times its delays on its own clock and the CDR marks when the gateway handled its
    # messages, so the two can differ by: CDR times stored truncated to the millisecond (1 ms);
    # the apps' loops (libuv in node, uvloop) keeping time in whole milliseconds cached per
    # iteration, so a timer may fire up to 1 ms early in real time; and `answer` crossing the
    # gateway during call set-up, on a loop busier than when `hangup` crosses it (a few ms when
    # the whole suite runs on two cores). Seen in CI: 1.299 s for 0.3 + 1.0 s. An app hanging up
    # early by a scripting error would be off by far more than this.
    precision_s = 0.02
    scripted_s = DTMF_AFTER_S + HANGUP_AFTER_DTMF_S
    assert scripted_s - precision_s <= talk_s < scripted_s + 0.5
    # The caller heard its own speech back: every frame it said, in order, none lost or repeated
    # (the echo is sample-exact, so frames are compared by content)...
    # Pauses in the speech are digital silence; only frames that occur once identify a moment.
    said = frames_of(caller_speech_pcm16())
    counts = Counter(said)
    index = {frame: i for i, frame in enumerate(said) if counts[frame] == 1}
    heard_frames = frames_of(bytes(heard.audio))
    echoed = [index[f] for f in heard_frames if f in index]
    expected = [i for i, frame in enumerate(said[: echoed[-1] + 1]) if frame in index]
    assert echoed == expected
    assert echoed[-1] >= (talk_s - 0.2) / 0.02  # all but the last round trip's worth came back
    # ...and as a signal: the first echoed stretch lines up with what was said, a round trip later.
    start = heard_frames.index(said[0])
    alignment = align(b"".join(said[:10]), bytes(heard.audio)[: (start + 10) * 320])
    assert alignment.peak > 0.99
    assert alignment.lag_samples == start * 160
