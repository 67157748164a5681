"""The reference inbound application: the spec's call flow, with the caller's audio echoed back.

Answer on `incoming_call` (after `answer_delay_s`), send DTMF "1" for 200 ms `dtmf_after_s` after the
answer, echo every caller audio frame as it arrives, and hang up `hangup_after_dtmf_s` after the DTMF. The
caller may hang up first. All times are deadlines on the loop clock counted from `incoming_call`, so a
late step never pushes the later ones back.

    callgate inbound-echo [--host H] [--port P] [--certfile F --keyfile K]   # the CLI hooks main()
    python -m callgate.appkit.echo --port 4143
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl as ssl_module
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from callgate.appkit.call import Call
from callgate.appkit.server import DEFAULT_PORT, InboundServer, server_ssl_context
from callgate.inbound.protocol import CallerDtmf, CallerHangup
from callgate.inbound.session import CallEnded, CallStateError

logger = logging.getLogger("callgate.appkit.echo")


@dataclass(frozen=True, slots=True)
class EchoTimings:
    """When the echo app acts, in seconds (the spec's flow: answer at once, DTMF +2 s, hangup +10 s)."""

    answer_delay_s: float = 0.0
    dtmf_after_s: float = 2.0
    hangup_after_dtmf_s: float = 10.0
    dtmf_digit: str = "1"
    dtmf_duration_ms: int = 200

    def __post_init__(self) -> None:
        if min(self.answer_delay_s, self.dtmf_after_s, self.hangup_after_dtmf_s) < 0:
            raise ValueError("echo timings must not be negative")


class EchoApp:
    """The handler: `InboundServer(EchoApp(timings))`. Counts what it did, for tests and logs."""

    def __init__(self, timings: EchoTimings | None = None) -> None:
        self.timings = timings or EchoTimings()
        self.calls_handled = 0
        self.frames_echoed = 0
        self.frames_not_echoed = 0
        """Frames that arrived while the gateway was not reading (its socket buffer full)."""

    async def __call__(self, call: Call) -> None:
        self.calls_handled += 1
        script = asyncio.create_task(self._script(call), name=f"echo-script-{call.session_id}")

        def echo(pcm16: bytes) -> None:
            # Each frame goes straight back as it arrives (the framework's handler style: no task
            # switch per frame); a frame that cannot go now would be late anyway, so it is dropped.
            if not call.answered:
                return  # not answered yet: nothing to echo into
            try:
                sent = call.send_audio_nowait(pcm16)
            except CallStateError:
                return  # the call is ending
            if sent:
                self.frames_echoed += 1
            else:
                self.frames_not_echoed += 1

        call.on_audio(echo)
        try:
            async for event in call:  # DTMF and hangup; the audio went to `echo`
                match event:
                    case CallerDtmf(digit):
                        logger.info("call %s: caller pressed %s", call.session_id, digit)
                    case CallerHangup():
                        logger.info("call %s: caller hung up", call.session_id)
        finally:
            script.cancel()
            await asyncio.wait([script])
        if not script.cancelled() and (error := script.exception()) is not None:
            raise error

    async def _script(self, call: Call) -> None:
        """Answer, DTMF, hangup, each at its own deadline from the start of the call."""
        timings = self.timings
        loop = asyncio.get_running_loop()
        answer_at = loop.time() + timings.answer_delay_s
        dtmf_at = answer_at + timings.dtmf_after_s
        hangup_at = dtmf_at + timings.hangup_after_dtmf_s
        try:
            await _sleep_until(answer_at)
            await call.answer()
            await _sleep_until(dtmf_at)
            await call.send_dtmf(timings.dtmf_digit, timings.dtmf_duration_ms)
            await _sleep_until(hangup_at)
            await call.hangup()
        except CallEnded:
            pass  # the caller hung up first: nothing left to do


async def _sleep_until(deadline: float) -> None:
    delay_s = deadline - asyncio.get_running_loop().time()
    if delay_s > 0:
        await asyncio.sleep(delay_s)


async def run_echo_app(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    ssl: ssl_module.SSLContext | None = None,
    timings: EchoTimings | None = None,
    ready: asyncio.Future[int] | None = None,
) -> None:
    """Serve the echo app until cancelled. `ready`, if given, receives the bound port."""
    server = InboundServer(EchoApp(timings), host, port, ssl=ssl)
    await server.start()
    if ready is not None and not ready.done():
        ready.set_result(server.port)
    await server.serve_forever()


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The echo app's options, on `parser` (e.g. a CLI subcommand's) or on a new one."""
    if parser is None:
        parser = argparse.ArgumentParser(
            prog="callgate inbound-echo", description="Run the reference inbound echo application"
        )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (4143; 0: any)")
    parser.add_argument("--certfile", help="PEM certificate: serve wss:// instead of ws://")
    parser.add_argument("--keyfile", help="PEM private key, if not in the certificate file")
    parser.add_argument("--answer-delay", type=float, default=0.0, metavar="S")
    parser.add_argument("--dtmf-after", type=float, default=2.0, metavar="S")
    parser.add_argument("--hangup-after-dtmf", type=float, default=10.0, metavar="S")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    """Run the echo app from parsed `build_parser()` options until interrupted; the exit status."""
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        timings = EchoTimings(args.answer_delay, args.dtmf_after, args.hangup_after_dtmf)
        ssl = server_ssl_context(args.certfile, args.keyfile) if args.certfile else None
    except (ValueError, OSError) as exc:
        print(f"callgate inbound-echo: {exc}", file=sys.stderr)
        return 2
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(run_echo_app(args.host, args.port, ssl=ssl, timings=timings))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the port is taken, the address is not ours, ...
        print(f"callgate inbound-echo: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`callgate inbound-echo` / `python -m callgate.appkit.echo`: parse `argv` and run."""
    return run_from_args(build_parser().parse_args(argv))


def _loop_factory() -> type[asyncio.AbstractEventLoop] | None:
    """uvloop where it exists: the same loop the gateway runs on, and cheaper per frame."""
    try:
        import uvloop
    except ImportError:
        return None
    loop_class: type[asyncio.AbstractEventLoop] = uvloop.Loop
    return loop_class


if __name__ == "__main__":
    sys.exit(main())
