"""The reference echo app: the spec's call flow, timed, against a raw `websockets` gateway."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from callgate.appkit import InboundServer
from callgate.appkit.echo import EchoApp, EchoTimings, build_parser, main, run_echo_app
from callgate.media.pcm import FRAME_BYTES
from callgate.media.signals import align, speech_like_pcm16
from tests.inbound.gateway import WAIT_S, Gateway, eventually

ROOT = Path(__file__).resolve().parents[2]
EARLY_S = 0.005
"""A timer may fire a hair early; nothing legitimate arrives earlier than this before its deadline."""

FAST = EchoTimings(answer_delay_s=0.0, dtmf_after_s=0.2, hangup_after_dtmf_s=1.0)


def test_the_default_timings_are_the_spec_flow() -> None:
    timings = EchoTimings()
    assert (timings.answer_delay_s, timings.dtmf_after_s, timings.hangup_after_dtmf_s) == (
        0.0,
        2.0,
        10.0,
    )
    assert (timings.dtmf_digit, timings.dtmf_duration_ms) == ("1", 200)
    with pytest.raises(ValueError, match="negative"):
        EchoTimings(dtmf_after_s=-1.0)


async def test_the_spec_call_flow_with_short_timings() -> None:
    app = EchoApp(FAST)
    speech = speech_like_pcm16(0.5, seed=11)
    loop = asyncio.get_running_loop()
    async with (
        asyncio.timeout(60),
        InboundServer(app, "127.0.0.1", 0) as server,
        Gateway.connect(server.url) as gateway,
    ):
        await asyncio.sleep(0.05)  # the spec's gateway connects first, then sends the call
        start = loop.time()
        await gateway.incoming_call("spec-flow")
        answered_at = await gateway.wait_event("answer")
        streaming = asyncio.create_task(gateway.stream(speech))
        await asyncio.sleep(0.1)
        await gateway.send_json({"event": "dtmf", "digit": "1"})  # the caller presses a key
        dtmf_at = await gateway.wait_event("dtmf")
        await streaming
        hangup_at = await gateway.wait_event("hangup")
        assert await gateway.closed() == 1000
    assert gateway.received.texts == [
        '{"event":"answer"}',
        '{"event":"dtmf","digit":"1","duration":200}',
        '{"event":"hangup"}',
    ]
    # Answer at once, DTMF 0.2 s later, hangup 1 s after that: never early, and not absurdly late.
    assert answered_at - start < WAIT_S / 2
    assert 0.2 - EARLY_S <= dtmf_at - start < 0.2 + WAIT_S / 2
    assert 1.2 - EARLY_S <= hangup_at - start < 1.2 + WAIT_S / 2
    # Every frame came back, unchanged and in order, before the hangup.
    echoed = [t for t, _ in gateway.received.audio_messages]
    assert echoed
    assert max(echoed) <= hangup_at
    alignment = align(speech, bytes(gateway.received.audio))
    assert alignment.peak > 0.99
    assert alignment.lag_samples == 0
    assert app.frames_echoed == len(speech) // FRAME_BYTES


async def test_audio_before_the_delayed_answer_is_not_echoed() -> None:
    app = EchoApp(EchoTimings(answer_delay_s=0.4, dtmf_after_s=0.1, hangup_after_dtmf_s=0.5))
    early = bytes([7]) * FRAME_BYTES * 3
    speech = speech_like_pcm16(0.2, seed=2)
    loop = asyncio.get_running_loop()
    async with (
        asyncio.timeout(60),
        InboundServer(app, "127.0.0.1", 0) as server,
        Gateway.connect(server.url) as gateway,
    ):
        start = loop.time()
        await gateway.incoming_call()
        await gateway.stream(early)
        answered_at = await gateway.wait_event("answer")
        await gateway.stream(speech)
        hangup_at = await gateway.wait_event("hangup")
        await gateway.closed()
    assert answered_at - start >= 0.4 - EARLY_S
    assert hangup_at - start >= 1.0 - EARLY_S
    assert bytes(gateway.received.audio) == speech


async def test_a_caller_who_hangs_up_first_ends_the_call_cleanly() -> None:
    app = EchoApp(EchoTimings(dtmf_after_s=5.0, hangup_after_dtmf_s=5.0))
    async with asyncio.timeout(60), InboundServer(app, "127.0.0.1", 0) as server:
        async with Gateway.connect(server.url) as gateway:
            await gateway.incoming_call()
            await gateway.wait_event("answer")
            await gateway.stream(bytes(FRAME_BYTES * 5))
            await gateway.wait_audio(FRAME_BYTES * 5)
            await gateway.send_json({"event": "hangup"})
            assert await gateway.closed(timeout_s=3.0) == 1000
        await eventually(lambda: not server.calls)
    assert gateway.received.texts == ['{"event":"answer"}']
    assert app.calls_handled == 1


async def test_run_echo_app_reports_its_port_and_stops_when_cancelled() -> None:
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_echo_app("127.0.0.1", 0, timings=FAST, ready=ready))
    try:
        async with asyncio.timeout(60):
            port = await ready
            async with Gateway.connect(f"ws://127.0.0.1:{port}") as gateway:
                await gateway.incoming_call()
                await gateway.wait_event("hangup")
                assert await gateway.closed() == 1000
    finally:
        task.cancel()
        await asyncio.wait([task])
    assert [e["event"] for _, e in gateway.received.events] == ["answer", "dtmf", "hangup"]


def test_build_parser_defaults_and_a_cli_subcommand() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.certfile) == ("127.0.0.1", 4143, None)
    assert (args.answer_delay, args.dtmf_after, args.hangup_after_dtmf) == (0.0, 2.0, 10.0)
    import argparse

    cli = argparse.ArgumentParser(prog="callgate")
    sub = cli.add_subparsers(dest="command")
    build_parser(sub.add_parser("inbound-echo"))
    args = cli.parse_args(["inbound-echo", "--host", "0.0.0.0", "--port", "5000"])
    assert (args.command, args.host, args.port) == ("inbound-echo", "0.0.0.0", 5000)


def test_main_reports_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--certfile", str(tmp_path / "nope.pem")]) == 2
    assert "callgate inbound-echo:" in capsys.readouterr().err
    assert main(["--dtmf-after", "-1"]) == 2
    for bad in (["--port", "many"], ["--log-level", "chatty"]):
        with pytest.raises(SystemExit):
            main(bad)


async def test_the_command_runs_the_flow_and_exits_cleanly_on_sigint() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callgate.appkit.echo",
        "--port",
        "0",
        "--dtmf-after",
        "0.1",
        "--hangup-after-dtmf",
        "0.2",
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(60):
            url = ""
            while not url:
                line = (await process.stderr.readline()).decode()
                assert line, "the echo app exited before listening"
                if "inbound call server listening on " in line:
                    url = line.rsplit("listening on ", 1)[1].strip()
            async with Gateway.connect(url) as gateway:
                await gateway.incoming_call("cli")
                await gateway.wait_event("hangup")
                assert await gateway.closed() == 1000
            process.send_signal(signal.SIGINT)
            rest = (await process.stderr.read()).decode()
            assert await process.wait() == 0, rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert "Traceback" not in rest
    assert [e["event"] for _, e in gateway.received.events] == ["answer", "dtmf", "hangup"]
