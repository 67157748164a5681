"""The inbound app framework against a raw `websockets` client playing the gateway, over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from callgate.appkit import (
    AudioFrame,
    Call,
    CallEnded,
    CallerDtmf,
    CallerHangup,
    CallEvent,
    CallStateError,
    EndReason,
    InboundServer,
    server_ssl_context,
)
from callgate.inbound.protocol import MAX_AUDIO_CHUNK_BYTES, MAX_TEXT_BYTES
from callgate.media.signals import align, sine_pcm16, speech_like_pcm16
from tests.inbound.gateway import WAIT_S, Gateway, eventually
from tests.support import need_program

Handler = Callable[[Call], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler, **options: float | None) -> AsyncIterator[InboundServer]:
    async with asyncio.timeout(60):
        server = InboundServer(handler, "127.0.0.1", 0, **options)  # type: ignore[arg-type]
        async with server:
            yield server


class Recorder:
    """A handler that answers, echoes, and remembers what it saw and how it ended."""

    def __init__(self, *, answer: bool = True, echo: bool = True) -> None:
        self.answer = answer
        self.echo = echo
        self.calls: list[Call] = []
        self.events: dict[str, list[CallEvent]] = {}
        self.finished: dict[str, str] = {}

    async def __call__(self, call: Call) -> None:
        self.calls.append(call)
        events = self.events.setdefault(call.session_id, [])
        try:
            if self.answer:
                await call.answer()
            async for event in call:
                events.append(event)
                if self.echo and isinstance(event, AudioFrame):
                    await call.send_audio(event.pcm16)
        except asyncio.CancelledError:
            self.finished[call.session_id] = "cancelled"
            raise
        except CallEnded:  # sending raced with the end of the call: the server treats it as normal
            self.finished[call.session_id] = "CallEnded"
            raise
        self.finished[call.session_id] = "returned"

    def call(self, session_id: str) -> Call:
        return next(call for call in self.calls if call.session_id == session_id)


async def test_a_call_end_to_end_with_echo() -> None:
    app = Recorder()
    speech = speech_like_pcm16(0.6, seed=3)
    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        await gateway.incoming_call("s-echo", caller_id="0812345678", did="02150001")
        await gateway.wait_event("answer")
        call = app.call("s-echo")
        assert (call.caller_id, call.did_number, call.session_id) == (
            "0812345678",
            "02150001",
            "s-echo",
        )
        assert call.answered
        await gateway.stream(speech)
        await gateway.send_json({"event": "dtmf", "digit": "7"})
        await gateway.wait_audio(len(speech))
        await gateway.send_json({"event": "hangup"})
        assert await gateway.closed() == 1000
    assert gateway.received.texts == ['{"event":"answer"}']
    alignment = align(speech, bytes(gateway.received.audio))
    assert alignment.peak > 0.99
    assert alignment.lag_samples == 0
    events = app.events["s-echo"]
    assert events[-2:] == [CallerDtmf("7"), CallerHangup()]
    assert all(isinstance(event, AudioFrame) for event in events[:-2])
    assert call.end_reason is EndReason.CALLER_HANGUP
    assert app.finished["s-echo"] == "returned"
    assert call.dropped_audio_frames == 0


async def test_large_audio_is_sent_in_whole_sample_chunks_of_at_most_64_kib() -> None:
    prompt = speech_like_pcm16(10.0, seed=5)  # 160 000 bytes

    async def play(call: Call) -> None:
        await call.answer()
        await call.send_audio(bytearray(prompt))
        await call.hangup()

    async with serving(play) as server, Gateway.connect(server.url) as gateway:
        await gateway.incoming_call()
        assert await gateway.closed() == 1000
    assert gateway.close_reason == "hangup"
    sizes = [size for _, size in gateway.received.audio_messages]
    assert sizes == [MAX_AUDIO_CHUNK_BYTES, MAX_AUDIO_CHUNK_BYTES, len(prompt) - 2 * 65536]
    assert bytes(gateway.received.audio) == prompt
    assert [event["event"] for _, event in gateway.received.events] == ["answer", "hangup"]


async def test_actions_follow_the_ordering_rules() -> None:
    problems: list[str] = []

    async def app(call: Call) -> None:
        try:
            await call.send_dtmf("1")
        except CallStateError as exc:
            problems.append(str(exc))
        await call.send_audio(bytes(320))  # while ringing: the gateway keeps it for the answer
        await call.answer()
        await call.answer()  # idempotent: nothing sent
        await call.send_dtmf("A", duration_ms=80)
        await call.send_dtmf("#")
        for bad in (lambda: call.send_dtmf("X"), lambda: call.send_audio(b"\x00\x01\x02")):
            try:
                await bad()
            except ValueError as exc:
                problems.append(str(exc))
        await call.hangup()
        await call.hangup()  # idempotent
        try:
            await call.send_audio(bytes(320))
        except CallEnded as exc:
            problems.append(str(exc))

    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        await gateway.incoming_call()
        assert await gateway.closed() == 1000
    assert gateway.received.texts == [
        '{"event":"answer"}',
        '{"event":"dtmf","digit":"A","duration":80}',
        '{"event":"dtmf","digit":"#","duration":200}',
        '{"event":"hangup"}',
    ]
    assert gateway.received.audio == bytes(320)
    assert gateway.received.audio_messages[0][0] <= gateway.events_named("answer")[0][0]
    assert problems == [
        "cannot send dtmf before the call is answered: answer() first",
        "invalid DTMF digit 'X': expected one of 0-9 * # A-D",
        "PCM16 audio needs whole samples (an even byte count), got 3",
        "cannot send audio: the call has ended",
    ]


async def test_a_handler_that_returns_hangs_up_the_call() -> None:
    async def answer_and_leave(call: Call) -> None:
        await call.answer()

    async with serving(answer_and_leave) as server, Gateway.connect(server.url) as gateway:
        await gateway.incoming_call()
        assert await gateway.closed() == 1000
        await eventually(lambda: not server.calls)
    assert [event["event"] for _, event in gateway.received.events] == ["answer", "hangup"]


async def test_a_failing_handler_is_logged_and_closed_with_1011_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    echo = Recorder()

    async def app(call: Call) -> None:
        if call.session_id == "bad":
            await call.answer()
            raise RuntimeError("bug in the application")
        await echo(call)

    tone = sine_pcm16(440.0, 0.4)
    async with serving(app) as server, Gateway.connect(server.url) as good:
        await good.incoming_call("good")
        await good.wait_event("answer")
        async with Gateway.connect(server.url) as bad:
            await bad.incoming_call("bad")
            assert await bad.closed() == 1011
        assert bad.close_reason == "application error: RuntimeError"
        assert [event["event"] for _, event in bad.received.events] == ["answer", "hangup"]
        # The other call never noticed.
        await good.stream(tone)
        await good.wait_audio(len(tone))
        assert align(tone, bytes(good.received.audio)).peak > 0.99
        await good.send_json({"event": "hangup"})
        assert await good.closed() == 1000
    failures = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert "call bad" in failures[0].getMessage()


async def test_a_dropped_socket_ends_that_call_only() -> None:
    app = Recorder()
    speech = speech_like_pcm16(0.4, seed=8)
    async with serving(app) as server, Gateway.connect(server.url) as survivor:
        await survivor.incoming_call("survivor")
        async with Gateway.connect(server.url) as victim:
            await victim.incoming_call("victim")
            await victim.wait_event("answer")
            await victim.stream(speech[:3200])
            victim.drop()
            await eventually(lambda: "victim" in app.finished)
        dropped = app.call("victim")
        assert dropped.end_reason is EndReason.CONNECTION_LOST
        assert dropped.ended
        # The event stream ended (or an echo hit the closed socket): no cancellation needed.
        assert app.finished["victim"] in {"returned", "CallEnded"}
        with pytest.raises(CallEnded):
            await dropped.send_audio(bytes(320))
        await eventually(lambda: [c.session_id for c in server.calls] == ["survivor"])
        # The survivor still talks.
        await survivor.wait_event("answer")
        await survivor.stream(speech)
        await survivor.wait_audio(len(speech))
        assert align(speech, bytes(survivor.received.audio)).peak > 0.99
        await survivor.send_json({"event": "hangup"})
        assert await survivor.closed() == 1000


async def test_bad_messages_during_a_call_are_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Recorder(echo=False)
    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        await gateway.incoming_call("s-bad")
        await gateway.wait_event("answer")
        await gateway.send_text("{not json")
        await gateway.send_text('{"event":"flash","hook":true}')
        await gateway.send_text('{"event":"dtmf","digit":"X"}')
        await gateway.send_text('["dtmf"]')
        await gateway.send_audio(bytes(321))
        await gateway.send_json({"event": "dtmf", "digit": "5"})
        await gateway.send_audio(bytes(320))
        await gateway.send_json({"event": "hangup"})
        assert await gateway.closed() == 1000
    assert app.events["s-bad"] == [CallerDtmf("5"), AudioFrame(bytes(320)), CallerHangup()]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 4
    assert all(m.startswith("call s-bad: protocol error, the gateway's fault: ") for m in errors)
    assert all(m.endswith("; message dropped") for m in errors)
    assert any("malformed JSON from the gateway" in m for m in errors)
    assert any("invalid digit 'X'" in m for m in errors)
    assert any("not whole PCM16 samples" in m for m in errors)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "call s-bad: unknown event 'flash' from the gateway: ignored" in warnings


async def test_a_gateway_that_keeps_breaking_the_protocol_is_cut_off() -> None:
    app = Recorder(echo=False)
    async with serving(app, max_violations=3) as server, Gateway.connect(server.url) as gateway:
        await gateway.incoming_call("s-noisy")
        await gateway.wait_event("answer")
        for _ in range(3):
            await gateway.send_text('{"event":"dtmf","digit":"?"}')
        assert await gateway.closed() == 1008
        await eventually(lambda: "s-noisy" in app.finished)
    assert "invalid digit '?'" in (gateway.close_reason or "")
    assert app.call("s-noisy").end_reason is EndReason.PROTOCOL_ERROR
    assert app.events["s-noisy"] == []


@pytest.mark.parametrize(
    ("first", "code", "reason"),
    [
        (bytes(320), 1008, "gateway sent audio in state awaiting_call"),
        ("{oops", 1007, "malformed JSON from the gateway"),
        ('{"event":"dtmf","digit":"1"}', 1008, "gateway sent dtmf in state awaiting_call"),
        ('{"event":"incoming_call","callerId":"1"}', 1008, "'didNumber' is missing"),
        ('{"event":"dtmf","x":"' + "y" * MAX_TEXT_BYTES + '"}', 1009, "exceeds 8192"),
    ],
)
async def test_a_bad_start_closes_before_any_call(
    first: str | bytes, code: int, reason: str
) -> None:
    app = Recorder()
    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        await gateway.ws.send(first)
        assert await gateway.closed() == code
    assert reason in (gateway.close_reason or "")
    assert not app.calls


async def test_oversized_audio_mid_call_closes_with_1009(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Recorder(echo=False)
    async with serving(app) as server:
        for size in (MAX_AUDIO_CHUNK_BYTES + 2, 8 * MAX_AUDIO_CHUNK_BYTES):
            session_id = f"big-{size}"
            async with Gateway.connect(server.url) as gateway:
                await gateway.incoming_call(session_id)
                await gateway.wait_event("answer")
                await gateway.send_audio(bytes(size))
                assert await gateway.closed() == 1009
            await eventually(partial(operator.contains, app.finished, session_id))
            assert app.call(session_id).end_reason is EndReason.PROTOCOL_ERROR
            assert f"call {session_id}: protocol error, the gateway's fault: a message over" in (
                caplog.text
            )


async def test_no_incoming_call_in_time_closes_with_1008() -> None:
    app = Recorder()
    async with serving(app, incoming_call_timeout_s=0.3) as server:
        async with Gateway.connect(server.url) as gateway:
            loop = asyncio.get_running_loop()
            start = loop.time()
            await gateway.send_text('{"event":"keepalive"}')  # unknown events do not reset it
            assert await gateway.closed() == 1008
            waited_s = loop.time() - start
        assert gateway.close_reason == "the gateway sent no incoming_call within 0.3 s"
        assert 0.29 <= waited_s < 0.3 + WAIT_S / 2
        assert not app.calls


async def test_a_hangup_before_incoming_call_closes_quietly() -> None:
    app = Recorder()
    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        await gateway.send_json({"event": "hangup"})
        assert await gateway.closed() == 1000
    assert not app.calls


async def test_a_slow_handler_loses_the_oldest_audio_but_never_dtmf() -> None:
    release = asyncio.Event()
    seen: list[CallEvent] = []
    calls: list[Call] = []

    async def slow(call: Call) -> None:
        calls.append(call)
        await call.answer()
        await release.wait()
        seen.extend([event async for event in call])

    def frame(index: int) -> AudioFrame:
        return AudioFrame(bytes([index]) * 320)

    async with (
        serving(slow, receive_queue_events=10) as server,
        Gateway.connect(server.url) as gateway,
    ):
        await gateway.incoming_call()
        await gateway.wait_event("answer")
        for index in range(20):
            await gateway.send_audio(frame(index).pcm16)
        await gateway.send_json({"event": "dtmf", "digit": "5"})
        for index in range(20, 40):
            await gateway.send_audio(frame(index).pcm16)
        await gateway.send_json({"event": "hangup"})
        await eventually(lambda: calls[0].ended)
        release.set()
        await gateway.closed()
    assert seen == [CallerDtmf("5"), *(frame(i) for i in range(32, 40)), CallerHangup()]
    assert calls[0].dropped_audio_frames == 32


async def test_a_handler_that_ignores_the_end_is_cancelled_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stuck = asyncio.Event()
    outcome: list[str] = []

    async def deaf(call: Call) -> None:
        await call.answer()
        try:
            await asyncio.Event().wait()  # never reads its events
        except asyncio.CancelledError:
            outcome.append("cancelled")
            stuck.set()
            raise

    async with serving(deaf, handler_grace_s=0.2) as server, Gateway.connect(server.url) as gw:
        await gw.incoming_call("s-deaf")
        await gw.wait_event("answer")
        loop = asyncio.get_running_loop()
        hung_up_at = loop.time()
        await gw.send_json({"event": "hangup"})
        assert await gw.closed() == 1000
        assert loop.time() - hung_up_at >= 0.19
        await eventually(stuck.is_set)
    assert outcome == ["cancelled"]
    assert any("handler still running 0.2 s" in r.getMessage() for r in caplog.records)


async def test_closing_the_server_hangs_up_every_call_with_1001() -> None:
    app = Recorder()
    server = InboundServer(app, "127.0.0.1", 0)
    async with asyncio.timeout(60):
        await server.start()
        async with (
            Gateway.connect(server.url) as a,
            Gateway.connect(server.url) as b,
            Gateway.connect(server.url) as idle,
        ):
            await a.incoming_call("a")
            await b.incoming_call("b")
            await a.wait_event("answer")
            await b.wait_event("answer")
            loop = asyncio.get_running_loop()
            start = loop.time()
            await server.close()
            assert loop.time() - start < WAIT_S
            assert [await g.closed() for g in (a, b, idle)] == [1001, 1001, 1001]
        for gateway in (a, b):
            assert [e["event"] for _, e in gateway.received.events] == ["answer", "hangup"]
        assert not idle.received.events
        assert app.finished == {"a": "cancelled", "b": "cancelled"}
        assert {call.end_reason for call in app.calls} == {EndReason.SERVER_SHUTDOWN}
        assert not server.calls
        await server.close()  # idempotent


async def test_serve_forever_stops_gracefully_when_cancelled() -> None:
    app = Recorder()
    server = InboundServer(app, "127.0.0.1", 0)
    async with asyncio.timeout(60):
        await server.start()
        task = asyncio.create_task(server.serve_forever())
        async with Gateway.connect(server.url) as gateway:
            await gateway.incoming_call()
            await gateway.wait_event("answer")
            task.cancel()
            assert await gateway.closed() == 1001
        await asyncio.wait([task])
        assert task.cancelled()


async def test_fifty_concurrent_calls_each_get_their_own_audio_back() -> None:
    app = Recorder()
    signals = {f"c{n:02d}": speech_like_pcm16(0.5, seed=n) for n in range(50)}

    async def one_call(url: str, session_id: str) -> Gateway:
        async with Gateway.connect(url) as gateway:
            await gateway.incoming_call(session_id)
            await gateway.wait_event("answer", timeout_s=30)
            await gateway.stream(signals[session_id])
            await gateway.wait_audio(len(signals[session_id]), timeout_s=30)
            await gateway.send_json({"event": "hangup"})
            await gateway.closed(timeout_s=30)
            return gateway

    async with serving(app) as server:
        gateways = await asyncio.gather(*(one_call(server.url, sid) for sid in signals))
        await eventually(lambda: not server.calls)
    for session_id, gateway in zip(signals, gateways, strict=True):
        assert gateway.close_code == 1000
        alignment = align(signals[session_id], bytes(gateway.received.audio))
        assert alignment.peak > 0.99, session_id
        assert alignment.lag_samples == 0
    assert sorted(app.finished) == sorted(signals)
    assert all(call.dropped_audio_frames == 0 for call in app.calls)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = need_program("openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.mark.peers
async def test_wss_with_a_certificate_from_files(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    app = Recorder()
    tone = sine_pcm16(1000.0, 0.2)
    client_context = ssl.create_default_context(cafile=str(cert))
    async with serving(app, ssl=server_ssl_context(cert, key)) as server:  # type: ignore[arg-type]
        assert server.url.startswith("wss://127.0.0.1:")
        async with Gateway.connect(server.url, ssl_context=client_context) as gateway:
            await gateway.incoming_call("tls")
            await gateway.wait_event("answer")
            await gateway.stream(tone)
            await gateway.wait_audio(len(tone))
            await gateway.send_json({"event": "hangup"})
            assert await gateway.closed() == 1000
    assert bytes(gateway.received.audio) == tone


def test_server_ssl_context_reports_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        server_ssl_context(tmp_path / "missing.pem")


async def test_messages_sent_with_incoming_call_and_fragmented_ones_arrive_in_order() -> None:
    # The gateway's first messages can reach the app in one read with incoming_call (they wait in
    # the library's queue), later ones are handled as they are parsed, and any message may come
    # in fragments: the handler sees them all, in the order they were sent.
    app = Recorder(echo=False)
    tone = sine_pcm16(800.0, 0.1)
    frames = [tone[i : i + 320] for i in range(0, len(tone), 320)]
    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        burst: list[str | bytes] = [
            '{"event":"incoming_call","callerId":"0811","didNumber":"0215","sessionId":"s-burst"}',
            '{"event":"dtmf","digit":"1"}',
            frames[0],
        ]
        for message in burst:
            await gateway.ws.send(message)
        await gateway.wait_event("answer")
        await gateway.ws.send(iter([frames[1][:100], frames[1][100:]]))
        await gateway.ws.send(iter(['{"event":"dt', 'mf","digit":"2"}']))
        for frame in frames[2:]:
            await gateway.ws.send(frame)
        await gateway.send_json({"event": "hangup"})
        assert await gateway.closed() == 1000
    events = app.events["s-burst"]
    assert events == [
        CallerDtmf("1"),
        AudioFrame(frames[0]),
        AudioFrame(frames[1]),
        CallerDtmf("2"),
        *(AudioFrame(frame) for frame in frames[2:]),
        CallerHangup(),
    ]


async def test_text_that_is_not_utf8_closes_with_1007() -> None:
    app = Recorder()
    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        await gateway.incoming_call("s-utf8")
        await gateway.wait_event("answer")
        await gateway.ws.send(b'{"event": "\xff"}', text=True)
        assert await gateway.closed() == 1007
    assert app.call("s-utf8").end_reason is EndReason.PROTOCOL_ERROR


async def test_an_audio_handler_takes_the_audio_and_the_stream_keeps_dtmf_and_hangup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The handler style: on_audio gets every frame as it arrives (no task switch), and
    # send_audio_nowait echoes it at once; a handler that raises is logged, the call goes on.
    seen: list[CallEvent] = []
    frames: list[bytes] = []

    async def app(call: Call) -> None:
        def echo(pcm16: bytes) -> None:
            frames.append(pcm16)
            if len(frames) == 3:
                raise RuntimeError("a bug in the handler")
            assert call.send_audio_nowait(pcm16)

        call.on_audio(echo)
        await call.answer()
        async for event in call:
            seen.append(event)

    speech = speech_like_pcm16(0.4, seed=9)
    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        await gateway.incoming_call("s-handler")
        await gateway.wait_event("answer")
        await gateway.stream(speech)
        await gateway.send_json({"event": "dtmf", "digit": "5"})
        await gateway.wait_audio(len(speech) - 320)  # all but the frame the bug swallowed
        await gateway.send_json({"event": "hangup"})
        assert await gateway.closed() == 1000
    assert b"".join(frames) == speech
    assert seen == [CallerDtmf("5"), CallerHangup()]
    echoed = bytes(gateway.received.audio)
    assert echoed == speech[:640] + speech[960:]
    assert "the audio handler failed" in caplog.text


async def test_send_audio_nowait_refuses_bad_chunks_and_says_when_the_socket_is_full() -> None:
    outcomes: list[object] = []
    resumed = asyncio.Event()

    async def app(call: Call) -> None:
        for bad in (b"\x00\x01\x02", bytes(MAX_AUDIO_CHUNK_BYTES + 2)):
            try:
                call.send_audio_nowait(bad)
            except ValueError as exc:
                outcomes.append(str(exc))
        await call.answer()
        # The gateway stopped reading: the kernel's buffers fill, then the socket's, and then
        # the call says False instead of queueing without bound.
        chunk = bytes(MAX_AUDIO_CHUNK_BYTES)
        for sent in range(1, 5000):
            if not call.send_audio_nowait(chunk):
                outcomes.append(("full after", sent > 1))
                break
            await asyncio.sleep(0)
        await resumed.wait()  # hangup itself waits for the socket, as it must
        await call.hangup()
        try:
            call.send_audio_nowait(bytes(320))
        except CallEnded:
            outcomes.append("ended")

    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        gateway.ws.transport.pause_reading()
        await gateway.incoming_call()
        await eventually(lambda: ("full after", True) in outcomes, timeout_s=20)
        gateway.ws.transport.resume_reading()
        resumed.set()
        await eventually(lambda: "ended" in outcomes)
    assert outcomes == [
        "one chunk is whole PCM16 samples up to 65536 bytes, got 3",
        "one chunk is whole PCM16 samples up to 65536 bytes, got 65538",
        ("full after", True),
        "ended",
    ]


async def test_a_message_in_too_many_fragments_closes_with_1009() -> None:
    # The protocol limits a message's bytes, not its frames; websockets' queue stops at 4096
    # fragments and the direct path must too, or empty fragments would grow memory without end.
    app = Recorder()
    async with serving(app) as server, Gateway.connect(server.url) as gateway:
        await gateway.incoming_call("s-frag")
        await gateway.wait_event("answer")
        with contextlib.suppress(ConnectionClosed):
            await gateway.ws.send(iter([b"\x00\x00", *([b""] * 5000)]))
        assert await gateway.closed() == 1009
