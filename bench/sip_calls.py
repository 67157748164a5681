"""Benchmark: the SIP trunk with real calls to sipp, on uvloop; prints JSON.

Two runs, each against its own `sipp -sn uas -rtp_echo` on loopback:

(a) concurrent: `--calls` calls are dialled (at `--ramp-cps`), held with full-duplex G.711 for
    `--hold-s` (each call sends a tone every 20 ms and sipp echoes it back), then hung up. Reported:
    calls answered and lost (not answered, ended early, or no echo during the hold), CPU of this
    process and of sipp, RSS per call, RTP packets per second, and the send timing: on every tick
    the trunk sends one packet per call before it reads anything; we take the time the tick's
    first packet went out (a listener just before the trunk's) and the last (the trunk's
    `rtp_sent_at`). Send jitter is how far the time between two consecutive packets of a call
    strays from 20 ms (p50/p99/max), for the tick's first call and its last (the worst case);
    grid lateness is how far each packet is behind a 20 ms grid anchored at the earliest tick (it
    includes the constant offset of a call's place in the tick). Also: the whole tick's work and
    its send phase, the share of CPU the hypervisor stole meanwhile, GC pauses, a fixed piece of
    reference work timed before and after, and a canary (bench/canary.py, on this process's CPUs)
    that only wakes every 20 ms: late wake-ups there mean the machine or that core stalled.
    `--pin` puts this process on CPU 0 and sipp on the others (sipp's echo runs a thread per
    call; unpinned, late in one session, 72-150 of 500 calls heard under 90 % of their echo while
    pinned runs lost nothing, with the same code that lost nothing unpinned that morning).
    `--echo own` puts the RTP echo in a process of our own (bench/rtp_echo.py, one socket) and
    sipp only signals: a second peer, to tell the gateway's losses from sipp's. The report's
    `udp_drops_during_hold` counts what full receive buffers dropped, per owner of the socket.
    2026-12-03, 500 calls, 8 s hold, back to back on a machine 97 % busy with other work: sipp's
    echo 244 calls under 90 %, 17,180 datagrams dropped, all by sipp's sockets (none by ours);
    our echo 0 calls under 90 %, nothing dropped anywhere (issue 12, defect 6: the peer's).
(b) call rate: new calls at `--cps` for `--cps-s`, each held `--cps-hold-s` with media and then
    hung up; reported: attempts, successes (answered and ended by our BYE, no failure event),
    the success ratio, and the setup time (INVITE to 200) p50/p99.

    .venv/bin/python bench/sip_calls.py                      # full: 500 calls 20 s, 100 cps 60 s
    .venv/bin/python bench/sip_calls.py --quick              # about 20 s in all
    .venv/bin/python bench/sip_calls.py --skip-rate --echo own  # the echo of our own
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import (
    Canary,
    GcPauses,
    cpu_times,
    percentile,
    reference_ms,
    summary,
    usage_since,
)
from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkAnswered, TrunkAudio, TrunkEvent, TrunkHangup
from callgate.clock import FRAME_S, LoopClock, MediaTicker
from callgate.media.pcm import FRAME_BYTES
from callgate.media.signals import sine_pcm16
from callgate.telephony.siptrunk import SipTrunk, SipTrunkSettings

CLK_TCK = os.sysconf("SC_CLK_TCK")
PEER_CPUS: set[int] = set()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def process_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Bench:
    """The trunk, its clock and ticker, and what the stand-in domain saw."""

    trunk: SipTrunk
    clock: LoopClock
    ticker: MediaTicker
    frames: list[bytes]
    live: set[str] = field(default_factory=set)
    answered_at: dict[str, float] = field(default_factory=dict)
    dialled_at: dict[str, float] = field(default_factory=dict)
    hangups: dict[str, TrunkHangup] = field(default_factory=dict)
    audio_frames: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tick_first: list[tuple[int, float]] = field(default_factory=list)
    tick_last: list[tuple[int, float]] = field(default_factory=list)
    tick_end: list[tuple[int, float]] = field(default_factory=list)
    timing: bool = False
    _tick: int = 0
    _waiters: dict[str, asyncio.Future[bool]] = field(default_factory=dict)

    def on_event(self, event: TrunkEvent) -> None:
        if isinstance(event, TrunkAudio):
            self.audio_frames[event.session_id] += 1
            return
        if isinstance(event, TrunkAnswered):
            self.answered_at[event.session_id] = time.monotonic()
            self.live.add(event.session_id)
            self._settle(event.session_id, True)
        elif isinstance(event, TrunkHangup):
            self.hangups[event.session_id] = event
            self.live.discard(event.session_id)
            self._settle(event.session_id, False)

    def _settle(self, session_id: str, answered: bool) -> None:
        waiter = self._waiters.pop(session_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(answered)

    async def dial(self, number: str, timeout_s: float = 40.0) -> tuple[str, bool]:
        """Dial; the session id, and whether it was answered (else `hangups` says why)."""
        session_id = new_session_id()
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters[session_id] = waiter
        self.dialled_at[session_id] = time.monotonic()
        self.trunk.dial(session_id, number, None)
        try:
            answered = await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            self._waiters.pop(session_id, None)
            self.trunk.hangup(session_id, 16)
            return session_id, False
        return session_id, answered

    def hangup(self, session_id: str) -> None:
        self.live.discard(session_id)
        self.trunk.hangup(session_id, 16)

    # The domain's playout: one frame per live call per tick, then the trunk sends.
    def before_trunk(self, tick_no: int) -> None:
        self._tick += 1
        frame = self.frames[self._tick % len(self.frames)]
        for session_id in self.live:
            self.trunk.send_audio(session_id, frame)
        if self.timing:
            self.tick_first.append((tick_no, time.perf_counter()))

    def after_trunk(self, tick_no: int) -> None:
        if self.timing:
            # The trunk sends every call's packet first, then reads: its last packet left at
            # `rtp_sent_at` (the loop clock is time.monotonic, perf_counter's clock here).
            self.tick_last.append((tick_no, self.trunk.rtp_sent_at))
            self.tick_end.append((tick_no, time.perf_counter()))


def interval_deviation_ms(marks: list[tuple[int, float]]) -> list[float]:
    """|time between consecutive packets of a call - 20 ms|: the usual send jitter."""
    return [
        abs((t1 - t0) - (n1 - n0) * FRAME_S) * 1000.0
        for (n0, t0), (n1, t1) in itertools.pairwise(marks)
    ]


def grid_deviation_ms(marks: list[tuple[int, float]]) -> list[float]:
    """How late each tick's mark is against a 20 ms grid anchored at the earliest one."""
    if not marks:
        return []
    offsets = [t - n * FRAME_S for n, t in marks]
    anchor = min(offsets)
    return [(offset - anchor) * 1000.0 for offset in offsets]


ANSWER_ONLY_SCENARIO = (
    Path(__file__).resolve().parents[1] / "tests/peers/sipp/uas_answer_wait_bye.xml"
)
ECHO_SCRIPT = Path(__file__).resolve().parent / "rtp_echo.py"


@contextlib.asynccontextmanager
async def sipp_echo(workdir: Path, calls: int, echo_port: int | None = None) -> Any:
    """sipp answering `calls` calls: with its own `-rtp_echo`, or, given `echo_port`, answering
    with SDP that names that port (our own echo, bench/rtp_echo.py) and carrying no media."""
    program = shutil.which("sipp")
    if program is None:
        raise SystemExit("sipp is not installed (Debian package sip-tester)")
    port, media_port = free_port(), free_port()
    if echo_port is None:
        plan = ["-sn", "uas", "-rtp_echo", "-mp", str(media_port)]
    else:
        text = ANSWER_ONLY_SCENARIO.read_text()
        for placeholder, value in (
            ("[media_port]", str(echo_port)),
            ("@LINGER_MS@", "0"),
            ("@CONTACT@", "[local_ip]:[local_port]"),
        ):
            text = text.replace(placeholder, value)
        scenario_file = workdir / "uas_answer_for_our_echo.xml"
        scenario_file.write_text(text)
        plan = ["-sf", str(scenario_file)]
    argv = [
        program, *plan, "-i", "127.0.0.1", "-p", str(port), "-m", str(calls), "-nostdin",
        "-max_socket", "4096", "-trace_err",
    ]  # fmt: skip
    with (workdir / f"sipp-{port}.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=(lambda: os.sched_setaffinity(0, PEER_CPUS)) if PEER_CPUS else None,
        )
    try:
        await wait_udp_bound(port)
        yield process, port
    finally:
        if process.returncode is None:
            process.terminate()  # our own sipp, by its PID
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except TimeoutError:
                process.kill()
                await process.wait()


def udp_bound(port: int) -> bool:
    suffix = f":{port:04X}"
    with open("/proc/net/udp") as table:
        return any(line.split()[1].endswith(suffix) for line in list(table)[1:])


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process `pid` holds open (its threads share them)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def udp_drops(owners: dict[str, int]) -> dict[str, int]:
    """Datagrams each owner's UDP sockets dropped so far (the kernel's per-socket `drops`
    counter in /proc/net/udp: receive buffer full), by owner name; "other" for the rest."""
    by_inode = {inode: name for name, pid in owners.items() for inode in socket_inodes(pid)}
    totals = dict.fromkeys([*owners, "other"], 0)
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if len(fields) >= 13:
                    totals[by_inode.get(int(fields[9]), "other")] += int(fields[12])
    return totals


def udp_snmp() -> dict[str, int]:
    """The machine's UDP counters (/proc/net/snmp): InErrors, RcvbufErrors, SndbufErrors ..."""
    with open("/proc/net/snmp") as snmp:
        rows = [line.split() for line in snmp if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], (int(v) for v in rows[1][1:]), strict=True))


async def wait_udp_bound(port: int, timeout_s: float = 5.0) -> None:
    await wait_until(lambda: udp_bound(port), timeout_s)
    if not udp_bound(port):
        raise SystemExit(f"sipp did not bind UDP port {port}")


@contextlib.asynccontextmanager
async def running_bench(sipp_port: int, rtp_base: int, max_calls: int, **overrides: Any) -> Any:
    """The trunk towards 127.0.0.1:`sipp_port` under a `Bench`; `overrides` set other settings."""
    settings = SipTrunkSettings(
        **{
            "host": "127.0.0.1",
            "port": sipp_port,
            "bind_host": "127.0.0.1",
            "bind_port": 0,
            "rtp_port_min": rtp_base,
            "rtp_port_max": rtp_base + 4 * max_calls + 200,
            "max_calls": max_calls + 100,
            **overrides,
        }
    )
    clock = LoopClock()
    ticker = MediaTicker(clock)
    trunk = SipTrunk(settings, clock, ticker)
    tone = sine_pcm16(1000.0, 1.0, level_dbfs=-12.0)
    frames = [tone[i : i + FRAME_BYTES] for i in range(0, len(tone), FRAME_BYTES)]
    bench = Bench(trunk, clock, ticker, frames)
    unsubscribe_first = ticker.subscribe(bench.before_trunk)
    await trunk.start(bench.on_event)
    unsubscribe_last = ticker.subscribe(bench.after_trunk)
    try:
        yield bench
    finally:
        await trunk.stop()
        unsubscribe_first()
        unsubscribe_last()
        ticker.stop()


@contextlib.asynccontextmanager
async def own_echo(workdir: Path, wanted: bool) -> Any:
    """bench/rtp_echo.py in a process of its own when `wanted`: yields (its PID, its port)."""
    if not wanted:
        yield None, None
        return
    port = free_port()
    with (workdir / "rtp_echo.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ECHO_SCRIPT),
            "--port",
            str(port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=(lambda: os.sched_setaffinity(0, PEER_CPUS)) if PEER_CPUS else None,
        )
    try:
        await wait_udp_bound(port)
        yield process.pid, port
    finally:
        if process.returncode is None:
            process.terminate()  # our own echo, by its PID
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except TimeoutError:
                process.kill()
                await process.wait()


async def concurrent_run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    calls = args.calls
    async with (
        own_echo(workdir, args.echo == "own") as (echo_pid, echo_port),
        sipp_echo(workdir, calls, echo_port) as (sipp, port),
        running_bench(port, 20000, calls) as bench,
    ):
        reference_before = reference_ms()
        await asyncio.sleep(0.1)  # the ticker notes the frames that stall skipped ...
        skipped_before = bench.ticker.skipped_frames  # ... and they are not counted
        rss_before = rss_bytes()
        started = time.monotonic()
        pending = []
        for index in range(calls):
            pending.append(asyncio.create_task(bench.dial(f"{1000 + index}")))
            await asyncio.sleep(1.0 / args.ramp_cps)
        sessions = [s for s, answered in await asyncio.gather(*pending) if answered]
        ramp_s = time.monotonic() - started
        await asyncio.sleep(1.0)  # let every jitter buffer fill before measuring

        gc_pauses = GcPauses()
        gc_pauses.start()
        canary = Canary(args.hold_s)
        frames_before = dict(bench.audio_frames)
        stats_before = {s: bench.trunk.rtp_stats(s) for s in sessions}
        cpu_before, sipp_before = own_cpu_s(), process_cpu_s(sipp.pid)
        wall_before = time.monotonic()
        machine_before = cpu_times()
        owners = {"gateway": os.getpid(), "sipp": sipp.pid}
        if echo_pid is not None:
            owners["own_echo"] = echo_pid
        drops_before, snmp_before = udp_drops(owners), udp_snmp()
        bench.timing = True
        await asyncio.sleep(args.hold_s)
        bench.timing = False
        drops_after, snmp_after = udp_drops(owners), udp_snmp()
        gc_pauses.stop()
        wall = time.monotonic() - wall_before
        machine = usage_since(machine_before)
        cpu = own_cpu_s() - cpu_before
        sipp_cpu = process_cpu_s(sipp.pid) - sipp_before
        rss_during = rss_bytes()

        packets_in = packets_out = 0
        silent = 0
        for session_id in sessions:
            now, then = bench.trunk.rtp_stats(session_id), stats_before[session_id]
            if now is None or then is None:
                silent += 1
                continue
            packets_in += now.packets_in - then.packets_in
            packets_out += now.packets_out - then.packets_out
            heard = bench.audio_frames[session_id] - frames_before.get(session_id, 0)
            if now.packets_in - then.packets_in < 0.9 * args.hold_s * 50 or heard == 0:
                silent += 1
        ended_early = [s for s in sessions if s in bench.hangups]
        for session_id in sessions:
            bench.hangup(session_id)
        await wait_until(lambda: len(bench.trunk.engine) == 0, 20.0)
        skipped = bench.ticker.skipped_frames - skipped_before
        canary_late = canary.late()  # both stall the loop: after the calls
        reference_after = reference_ms()

    first = grid_deviation_ms(bench.tick_first)
    last = grid_deviation_ms(bench.tick_last)
    jitter_first = interval_deviation_ms(bench.tick_first)
    jitter_last = interval_deviation_ms(bench.tick_last)
    starts = dict(bench.tick_first)
    durations = [1000.0 * (t - starts[n]) for n, t in bench.tick_end if n in starts]
    send_phase = [1000.0 * (t - starts[n]) for n, t in bench.tick_last if n in starts]
    answered = len(sessions)
    return {
        "calls": calls,
        "echo_peer": "bench/rtp_echo.py" if args.echo == "own" else "sipp -rtp_echo",
        "answered": answered,
        "lost_calls": calls - answered + len(ended_early) + silent,
        "not_answered": calls - answered,
        "ended_early": len(ended_early),
        "no_echo_during_hold": silent,
        "ramp_s": round(ramp_s, 2),
        "hold_s": args.hold_s,
        "rtp_packets_out_per_s": round(packets_out / wall),
        "rtp_packets_in_per_s": round(packets_in / wall),
        # Where lost echo went: datagrams dropped by full receive buffers during the hold, per
        # owner of the socket, and the machine's UDP error counters over the same time.
        "udp_drops_during_hold": {k: drops_after[k] - drops_before[k] for k in drops_after},
        "udp_errors_during_hold": {
            k: snmp_after[k] - snmp_before[k]
            for k in ("InErrors", "RcvbufErrors", "SndbufErrors")
            if k in snmp_after
        },
        "cpu_percent_of_one_core": round(100.0 * cpu / wall, 1),
        "cpu_percent_per_call": round(100.0 * cpu / wall / max(answered, 1), 4),
        "sipp_cpu_percent_of_one_core": round(100.0 * sipp_cpu / wall, 1),
        **machine,
        "reference_work_ms_before_after": [reference_before, reference_after],
        "canary_wakeups_over_3_ms_late": len(canary_late),
        "canary_max_late_ms": max((ms for _, ms in canary_late), default=0.0),
        "rss_mb": round(rss_during / 2**20, 1),
        "rss_per_call_kb": round((rss_during - rss_before) / max(answered, 1) / 1024, 1),
        "send_jitter_ms": {
            "first_call_p50": round(percentile(jitter_first, 0.50), 3),
            "first_call_p99": round(percentile(jitter_first, 0.99), 3),
            "last_call_p50": round(percentile(jitter_last, 0.50), 3),
            "last_call_p99": round(percentile(jitter_last, 0.99), 3),
            "last_call_max": round(max(jitter_last, default=float("nan")), 3),
        },
        "grid_lateness_ms": {
            "first_call_p50": round(percentile(first, 0.50), 3),
            "first_call_p99": round(percentile(first, 0.99), 3),
            "last_call_p50": round(percentile(last, 0.50), 3),
            "last_call_p99": round(percentile(last, 0.99), 3),
            "ticks": len(last),
        },
        "tick_work_ms": summary(durations),
        "send_phase_ms": summary(send_phase),
        "p99_rtp_send_jitter_ms": round(percentile(jitter_last, 0.99), 3),
        "ticker_skipped_frames": skipped,
        **gc_pauses.summary(),
    }


async def rate_run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    attempts = int(args.cps * args.cps_s)
    concurrent_estimate = int(args.cps * (args.cps_hold_s + 2)) + 50
    async with (
        sipp_echo(workdir, attempts) as (_, port),
        running_bench(port, 24000, concurrent_estimate) as bench,
    ):
        outcomes: list[bool] = []
        setup_ms: list[float] = []

        failures: dict[str, int] = defaultdict(int)

        async def one_call(index: int) -> None:
            session_id, answered = await bench.dial(f"{5000 + index}")
            if not answered:
                refusal = bench.hangups.get(session_id)
                why = "no answer in 40 s" if refusal is None else f"refused, cause {refusal.cause}"
                failures[why] += 1
                outcomes.append(False)
                return
            setup_ms.append(1000.0 * (bench.answered_at[session_id] - bench.dialled_at[session_id]))
            await asyncio.sleep(args.cps_hold_s)
            early = bench.hangups.get(session_id)  # ended before our BYE
            if early is not None:
                failures[f"ended early, cause {early.cause}"] += 1
            bench.hangup(session_id)
            outcomes.append(early is None)

        started = time.monotonic()
        cpu_before = own_cpu_s()
        tasks = []
        for index in range(attempts):
            due = started + index / args.cps
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one_call(index)))
        offered_s = time.monotonic() - started
        await asyncio.gather(*tasks)
        wall = time.monotonic() - started
        cpu = own_cpu_s() - cpu_before
        await wait_until(lambda: len(bench.trunk.engine) == 0, 40.0)
        leftover = len(bench.trunk.engine)
    successes = sum(outcomes)
    return {
        "target_cps": args.cps,
        "seconds": args.cps_s,
        "attempts": attempts,
        "offered_cps": round(attempts / offered_s, 1),
        "successes": successes,
        "success_ratio": round(successes / attempts, 5),
        "hold_s": args.cps_hold_s,
        "setup_ms_p50": round(percentile(setup_ms, 0.50), 2),
        "setup_ms_p99": round(percentile(setup_ms, 0.99), 2),
        "cpu_percent_of_one_core": round(100.0 * cpu / wall, 1),
        "calls_still_ending_after": leftover,
        "failures": dict(failures),
        "sipp_aborted_calls": aborted_calls(workdir),
    }


def aborted_calls(workdir: Path) -> int:
    """Calls sipp aborted on a message its scenario did not expect (its -trace_err log)."""
    return sum(
        path.read_text(errors="replace").count("Aborting call")
        for path in workdir.glob("*_errors.log")
    )


async def wait_until(predicate: Any, timeout_s: float) -> None:
    """Poll `predicate` every 50 ms, for at most `timeout_s`."""
    for _ in range(int(timeout_s / 0.05) + 1):
        if predicate():
            return
        await asyncio.sleep(0.05)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * args.calls + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    with tempfile.TemporaryDirectory(prefix="sip-bench-") as directory:
        workdir = Path(directory)
        result: dict[str, Any] = {
            "benchmark": "sip_calls",
            "python": platform.python_version(),
            "loop": type(asyncio.get_running_loop()).__module__,
            "cpus": os.cpu_count(),
        }
        if not args.skip_concurrent:
            result["concurrent"] = await concurrent_run(args, workdir)
        if not args.skip_rate:
            result["call_rate"] = await rate_run(args, workdir)
        return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--ramp-cps", type=float, default=100.0)
    parser.add_argument("--hold-s", type=float, default=20.0)
    parser.add_argument("--cps", type=float, default=100.0)
    parser.add_argument("--cps-s", type=float, default=60.0)
    parser.add_argument("--cps-hold-s", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="short durations: about 20 s")
    parser.add_argument("--skip-concurrent", action="store_true")
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--pin", action="store_true", help="gateway on CPU 0, sipp on the others")
    parser.add_argument(
        "--echo",
        choices=("sipp", "own"),
        default="sipp",
        help="who echoes the RTP of the concurrent run: sipp -rtp_echo (a thread per call) or "
        "bench/rtp_echo.py (one socket, its own process; sipp then only signals)",
    )
    args = parser.parse_args()
    if args.quick:
        args.hold_s = 4.0
        args.cps_s = 8.0
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.pin:
        # One core for the gateway, the rest for sipp: sipp's echo runs a thread per call, and
        # its wake-ups on the gateway's core would be counted as the gateway's jitter.
        os.sched_setaffinity(0, {0})
        PEER_CPUS.update(set(range(os.cpu_count() or 1)) - {0} or {0})
    print(json.dumps(uvloop.run(main(arguments)), indent=2))
