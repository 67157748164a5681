"""`callgate call`, `callgate cdr list` and `callgate cdr show`: the client on the command line.

Works against any gateway: `--url` (or CALLGATE_URL, default http://127.0.0.1:8080) and `--token`
(or CALLGATE_TOKEN; without either, a short-lived token for account 'default' is made from the
local data directory's signing secret, as `make run` prints one). On a terminal, `call` shows its
progress live with rich (status, elapsed time, the far party's level); otherwise it prints one plain
line per change, so logs and CI read cleanly. Exit status: 0 for a call that connected, 1 when it
did not (busy, no answer, declined, failed) or the gateway refused a request, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from callgate.client.call import Call
from callgate.client.connection import Client
from callgate.client.errors import CallgateError, CallNotConnected
from callgate.client.events import Dtmf, Ended, Status
from callgate.client.records import Cdr
from callgate.media.signals import rms_dbfs

DEFAULT_URL: Final = "http://127.0.0.1:8080"
CDR_COLUMNS: Final = (
    "sessionId",
    "destination",
    "startTime",
    "duration",
    "billableSeconds",
    "disposition",
    "hangupBy",
    "hangupCauseCode",
    "hangupCauseText",
)
REFRESH_PER_S: Final = 8


def add_commands(commands: Any) -> None:
    """Add `call` and `cdr` to the `callgate` parser's subcommands."""
    call = commands.add_parser("call", help="place a call through a gateway and follow it")
    call.add_argument("number", help="the number to dial")
    call.add_argument("--play", type=Path, help="audio to play once answered (.mp3, .wav, ...)")
    call.add_argument("--record", type=Path, help="write the far party's audio to this WAV file")
    call.add_argument("--dtmf", help="keys to press once answered (after --play), e.g. 1#")
    call.add_argument(
        "--hangup-after", type=float, help="hang up this many seconds after the answer"
    )
    _remote(call)

    cdr = commands.add_parser("cdr", help="call detail records")
    cdr_commands = cdr.add_subparsers(dest="cdr_command", required=True)
    listing = cdr_commands.add_parser("list", help="list CDRs, every page")
    listing.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="FIELD=$OP:VALUE",
        help="e.g. duration=$gte:30 or destination=$contains:0812 (repeatable)",
    )
    listing.add_argument(
        "--sort", action="append", default=[], metavar="FIELD:ASC|DESC", help="repeatable"
    )
    listing.add_argument("--limit", type=int, help="at most this many records")
    output = listing.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="a JSON array")
    output.add_argument("--csv", action="store_true", help="CSV with a header row")
    _remote(listing)
    show = cdr_commands.add_parser("show", help="one CDR as JSON")
    show.add_argument("session_id")
    _remote(show)


def _remote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"the gateway (default $CALLGATE_URL or {DEFAULT_URL})")
    parser.add_argument("--token", help="Bearer token (default $CALLGATE_TOKEN)")


def run(args: argparse.Namespace, token_from_config: Any) -> int:
    url = args.url or os.environ.get("CALLGATE_URL") or DEFAULT_URL
    token = args.token or os.environ.get("CALLGATE_TOKEN") or token_from_config()
    try:
        if args.command == "call":
            return asyncio.run(_call(url, token, args, sys.stdout))
        if args.cdr_command == "list":
            return asyncio.run(_cdr_list(url, token, args, sys.stdout))
        return asyncio.run(_cdr_show(url, token, args.session_id, sys.stdout))
    except CallgateError as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"callgate: cannot reach the gateway at {url}: {exc}", file=sys.stderr)
        return 1


# --- call --------------------------------------------------------------------------------------


class Progress:
    """The call's progress: a live line on a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO, number: str) -> None:
        self.console = Console(file=out, highlight=False)
        self.number = number
        self.status = "Dialing"
        self.started = time.monotonic()
        self.level_dbfs = -math.inf
        self.notes: list[str] = []
        self._live: Live | None = None

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        if not self.console.is_terminal:
            self.say(f"dialing {self.number}")
            yield
            return
        with Live(
            self._render(), console=self.console, refresh_per_second=REFRESH_PER_S, transient=True
        ) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def _render(self) -> Text:
        elapsed = time.monotonic() - self.started
        level = "  -inf" if self.level_dbfs == -math.inf else f"{self.level_dbfs:6.1f}"
        bars = max(0, min(20, int((self.level_dbfs + 60) / 3))) if self.level_dbfs > -60 else 0
        line = Text(f"{self.number}  {self.status:<10} {elapsed:6.1f} s  level {level} dBFS ")
        line.append("█" * bars, style="green")
        if self.notes:
            line.append("  " + "  ".join(self.notes[-3:]), style="cyan")
        return line

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        if self._live is not None:
            self.notes.append(message)
            self._live.update(self._render())
        else:
            self.console.print(f"{elapsed:6.1f} s  {message}")

    def tick(self) -> None:
        if self._live is not None:
            self._live.update(self._render())


class Recorder:
    """The far party's audio into a WAV file as it arrives (8 kHz mono PCM16)."""

    def __init__(self, path: Path | None, progress: Progress) -> None:
        self.progress = progress
        self._wav: wave.Wave_write | None = None
        if path is not None:
            self._wav = wave.open(str(path), "wb")  # noqa: SIM115 (open for the whole call)
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(8000)
        self._frames = 0

    def __call__(self, frame: bytes) -> None:
        if self._wav is not None:
            self._wav.writeframesraw(frame)
        self._frames += 1
        if self._frames % 5 == 0:  # 10 times a second is plenty for a level meter
            self.progress.level_dbfs = rms_dbfs(frame)
            self.progress.tick()

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()


async def _call(url: str, token: str, args: argparse.Namespace, out: TextIO) -> int:
    progress = Progress(out, args.number)
    recorder = Recorder(args.record, progress)
    try:
        async with Client(url, token) as cg:
            with progress.shown():
                call = await cg.dial(args.number)
                call.on_audio(recorder)
                watcher = asyncio.create_task(_watch(call, progress))
                try:
                    connected = await _drive(call, args, progress)
                except asyncio.CancelledError:  # Ctrl-C: the call must not outlive the command
                    await call.hangup()
                    raise
                finally:
                    cdr = await call.cdr()
                    await watcher
        _print_cdr(progress.console, cdr)
    finally:
        recorder.close()
    return 0 if connected else 1


async def _watch(call: Call, progress: Progress) -> None:
    async for event in call:
        if isinstance(event, Status):
            progress.status = event.status
            progress.say(event.status)
        elif isinstance(event, Dtmf):
            progress.say(f"key {event.digit}")
        elif isinstance(event, Ended):
            progress.status = "Ended"
            cdr = event.cdr
            progress.say(f"ended: {cdr.disposition} ({cdr.hangup_cause_text})")


async def _drive(call: Call, args: argparse.Namespace, progress: Progress) -> bool:
    try:
        await call.connected()
    except CallNotConnected:
        return False
    loop = asyncio.get_running_loop()
    answered = loop.time()
    if args.play is not None:
        result = await call.play(args.play)
        progress.say(f"played {args.play.name}" + (" (interrupted)" if result.interrupted else ""))
    if args.dtmf:
        await call.send_dtmf(args.dtmf)
        progress.say(f"sent keys {args.dtmf}")
    if args.hangup_after is not None:
        remaining = args.hangup_after - (loop.time() - answered)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.cdr(), max(0.0, remaining))
        await call.hangup()
    elif args.play is not None or args.dtmf:
        await call.hangup(after_playout=True)
    else:
        await call.cdr()  # until the far party hangs up (Ctrl-C hangs up)
    return True


def _print_cdr(console: Console, cdr: Cdr) -> None:
    if console.is_terminal:
        table = Table(show_header=False, title=f"CDR {cdr.session_id}")
        for key, value in cdr.raw.items():
            table.add_row(key, "" if value is None else str(value))
        console.print(table)
    else:
        console.print(json.dumps(cdr.raw, indent=2), soft_wrap=True)


# --- cdr ---------------------------------------------------------------------------------------


async def _cdr_list(url: str, token: str, args: argparse.Namespace, out: TextIO) -> int:
    records: list[dict[str, Any]] = []
    async with _rest_only(url, token) as cg:
        async for cdr in cg.cdrs(filter=args.filter, sort=args.sort):
            records.append(cdr.raw)
            if args.limit is not None and len(records) >= args.limit:
                break
    if args.json:
        out.write(json.dumps(records, indent=2) + "\n")
    elif args.csv:
        fields = list(CDR_COLUMNS) + sorted({k for r in records for k in r} - set(CDR_COLUMNS))
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    else:
        console = Console(file=out, highlight=False)
        table = Table(*CDR_COLUMNS, title=f"{len(records)} CDRs")
        for record in records:
            table.add_row(
                *("" if record.get(c) is None else str(record.get(c)) for c in CDR_COLUMNS)
            )
        console.print(table, soft_wrap=not console.is_terminal)
    return 0


async def _cdr_show(url: str, token: str, session_id: str, out: TextIO) -> int:
    async with _rest_only(url, token) as cg:
        cdr = await cg.cdr(session_id)
    out.write(json.dumps(cdr.raw, indent=2) + "\n")
    return 0


@contextlib.asynccontextmanager
async def _rest_only(url: str, token: str) -> Any:
    """A client that never opens its Socket.IO connection (REST is all `cdr` needs)."""
    client = Client(url, token)
    try:
        yield client
    finally:
        await client._http.aclose()
