"""Soak benchmark (issue 21): a mixed load through one `callgate serve` for a given time; prints JSON.

The gateway runs on a SIP trunk to a sipp UAS on loopback. The load, all at once:
- Socket.IO bots (python-socketio's client): each places a call over SIP, joins it, speaks a second
  of audio every second, hangs up after 3-12 s, and starts the next;
- one long call, held by a bot for the whole run: the clock drift is measured on it;
- inbound calls from a sipp UAC (`--sip-in` at once, 5 s each) to the inbound echo app
  (callgate.appkit) over the WebSocket protocol;
- a CDR listing every second, and every report a few malformed inputs: a garbage SIP datagram,
  a body that is not JSON, a Socket.IO event the gateway does not know.

The sipp UAS advertises this process's RTP socket in its answer, so the gateway's RTP for every
outbound call comes here and is sent back (an echo): per SSRC, each packet's arrival time and
RTP timestamp give the frame-interval deviation (|interval - 20 ms|, p99), sequence gaps, and, for
the long call, the drift of the RTP clock against the wall clock in ppm (its slope, window by window,
says whether it trends).

Every `--report-s` one JSON line: concurrent and completed calls, the gateway's CPU, RSS, fds and
tasks (from the idle-state probe, `/health?idle=1`), the media tick's lateness p99 (`/metrics`),
dropped frames, the host's steal. The baseline is the idle state after a warm-up (a few calls of
each kind, malformed inputs, a CDR query): what the first calls create once is not a leak. At the
end: lost CDRs (calls placed or answered whose CDR is not in the store; must be 0), the idle-state
probe against its baseline once every call has ended, and whether the descriptors are back to
their baseline exactly.

    .venv/bin/python bench/soak.py --duration-s 600 --bots 40 --sip-in 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import socketio
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.serve import serve_env, wait_healthy
from callgate.api.auth import create_token
from callgate.appkit.echo import EchoTimings, run_echo_app
from callgate.idle import differences
from tests.support import free_port

SECRET = "soak-secret-" + "s" * 40
FRAME_S = 0.02
RTP_RATE = 8000
SPEECH = b"\x00\x08" * 8000  # one second of PCM16 at 8 kHz

UAS_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- UAS for the soak: answers with the soak's own RTP socket as its media, waits for BYE. -->
<scenario name="soak uas">
  <recv request="INVITE" crlf="true"/>
  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio @RTP_PORT@ RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20

    ]]>
  </send>
  <recv request="BYE" optional="true" next="2"/>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <label id="2"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
</scenario>
"""


# --- the RTP sink: echo, and per-stream timing --------------------------------------------------


@dataclass
class Stream:
    first_at: float
    first_ts: int
    last_at: float
    last_seq: int
    last_ts: int
    packets: int = 1
    gaps: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)  # long call: (arrival, ts)


class RtpSink(asyncio.DatagramProtocol):
    """Echoes every packet to its sender; keeps interval deviations of the current window."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.streams: dict[int, Stream] = {}
        self.deviations_ms: list[float] = []
        self.gaps = 0
        self.long_ssrc: int | None = None
        self.watch_long = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.monotonic()
        if self.transport is not None:
            self.transport.sendto(data, addr)
        if len(data) < 12 or data[1] & 0x7F != 0:  # PCMU only (not telephone-event)
            return
        seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
        stream = self.streams.get(ssrc)
        if stream is None:
            self.streams[ssrc] = Stream(now, ts, now, seq, ts)
            if self.watch_long and self.long_ssrc is None:
                self.long_ssrc = ssrc
            return
        if (seq - stream.last_seq) & 0xFFFF == 1:
            self.deviations_ms.append(abs(now - stream.last_at - FRAME_S) * 1000)
        else:
            self.gaps += max(0, ((seq - stream.last_seq) & 0xFFFF) - 1)
        stream.last_at, stream.last_seq, stream.last_ts = now, seq, ts
        stream.packets += 1
        if ssrc == self.long_ssrc and stream.packets % 50 == 0:
            stream.samples.append((now, (ts - stream.first_ts) & 0xFFFFFFFF))

    def forget_idle(self, now: float) -> None:
        for ssrc in [s for s, st in self.streams.items() if now - st.last_at > 5]:
            if ssrc != self.long_ssrc:
                del self.streams[ssrc]


def drift_ppm(samples: list[tuple[float, int]]) -> float | None:
    """The RTP clock's rate against the wall clock, least squares, in ppm (+: RTP runs fast)."""
    if len(samples) < 3:
        return None
    xs = [at - samples[0][0] for at, _ in samples]
    ys = [ts / RTP_RATE for _, ts in samples]
    slope = statistics.linear_regression(xs, ys).slope
    return (slope - 1.0) * 1e6


# --- the gateway's figures ----------------------------------------------------------------------


def proc_figures(pid: int) -> dict[str, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return {"cpu_s": cpu_s, "rss_kb": rss_kb}


def host_steal() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return values[7] if len(values) > 7 else 0, sum(values)


def scrape(text: str) -> dict[str, Any]:
    """The media tick's lateness histogram (cumulative buckets), skipped and dropped frames."""
    buckets: dict[float, float] = {}
    figures: dict[str, Any] = {"buckets": buckets, "skipped": 0.0, "dropped": 0.0}
    for line in text.splitlines():
        if line.startswith("callgate_media_tick_lateness_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(le)] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("callgate_media_tick_skipped_frames_total"):
            figures["skipped"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("callgate_client_audio_frames_dropped_total"):
            figures["dropped"] += float(line.rsplit(" ", 1)[1])
    return figures


def p99_upper(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The bucket bound under which 99 % of the window's ticks ran (ms), from the two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    for bound, count in zip(bounds, counts, strict=True):
        if count >= 0.99 * total:
            return bound * 1000
    return None


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3)


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Load:
    url: str
    token: str
    http: httpx.AsyncClient
    placed: list[str] = field(default_factory=list)
    completed: int = 0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    live: int = 0
    stopping: bool = False

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def bot(load: Load, hold_s: tuple[float, float] | None, rng: random.Random) -> None:
    """Calls one after another until the load stops; `hold_s` None: one call held to the end."""
    sio = socketio.AsyncClient(reconnection=False)
    connected: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
    ended: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def on_status(data: dict[str, Any]) -> None:
        if data["status"] == "Connected":
            connected[data["sessionId"]].set()

    def on_cdr(data: dict[str, Any]) -> None:
        ended[data["sessionId"]].set()

    sio.on("dialStatus", on_status)
    sio.on("cdr", on_cdr)
    await sio.connect(load.url, auth={"token": load.token}, transports=["websocket"])
    try:
        while not load.stopping:
            response = await load.http.post(
                "/pbx/call", json={"phoneNumber": "0811"}, headers=load.auth()
            )
            if response.status_code != 200:
                load.failures[f"place {response.status_code}"] += 1
                await asyncio.sleep(1)
                continue
            sid = response.json()["data"]["sessionId"]
            load.placed.append(sid)
            load.live += 1
            try:
                await sio.call("joinRoom", {"sessionId": sid}, timeout=10)
                await asyncio.wait_for(connected[sid].wait(), 10)
                until = math_inf() if hold_s is None else time.monotonic() + rng.uniform(*hold_s)
                while time.monotonic() < until and not load.stopping:
                    audio = {"sessionId": sid, "audioData": SPEECH, "audioFormat": "pcm16"}
                    await sio.call("audio", audio, timeout=10)
                    await asyncio.sleep(1)
                await sio.call("hangup", {"sessionId": sid}, timeout=10)
                await asyncio.wait_for(ended[sid].wait(), 10)
                load.completed += 1
            except Exception as exc:  # counted, and the bot goes on
                load.failures[type(exc).__name__] += 1
            finally:
                load.live -= 1
                connected.pop(sid, None)
                ended.pop(sid, None)
            if hold_s is None:
                return
    finally:
        await sio.disconnect()


def math_inf() -> float:
    return float("inf")


async def cdr_queries(load: Load) -> None:
    while not load.stopping:
        response = await load.http.get("/v1/cdr", params={"limit": 50}, headers=load.auth())
        if response.status_code != 200:
            load.failures[f"cdr {response.status_code}"] += 1
        await asyncio.sleep(1)


async def malformed(load: Load, sip_port: int) -> None:
    """A garbage SIP datagram, a body that is not JSON, an unknown Socket.IO event."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"INVITE nonsense\r\n\r\n\x00\xff", ("127.0.0.1", sip_port))
    await load.http.post("/pbx/call", content=b"{not json", headers=load.auth())
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(load.url, auth={"token": load.token}, transports=["websocket"])
    with contextlib.suppress(Exception):
        await sio.call("noSuchEvent", {"x": 1}, timeout=5)
    await sio.disconnect()


async def health(http: httpx.AsyncClient) -> dict[str, int]:
    idle: dict[str, int] = (await http.get("/health", params={"idle": "1"})).json()["data"]["idle"]
    return idle


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="callgate-soak-"))
    (work / "warm").mkdir()
    loop = asyncio.get_running_loop()
    sink = RtpSink()
    rtp_transport, _ = await loop.create_datagram_endpoint(
        lambda: sink, local_addr=("127.0.0.1", 0)
    )
    rtp_port = rtp_transport.get_extra_info("sockname")[1]
    ready: asyncio.Future[int] = loop.create_future()
    echo = asyncio.create_task(
        run_echo_app("127.0.0.1", 0, timings=EchoTimings(hangup_after_dtmf_s=3600), ready=ready)
    )
    echo_port = await ready
    uas_port, sip_port, http_port = free_port(), free_port(), free_port()
    (work / "uas.xml").write_text(UAS_SCENARIO.replace("@RTP_PORT@", str(rtp_port)))
    (work / "callgate.toml").write_text(
        f"""
trunk = "sip:127.0.0.1:{uas_port}"
no_client_grace_s = 30
inbound_url = "ws://127.0.0.1:{echo_port}"
inbound_account = "soak"
max_call_duration_s = {args.duration_s + 600}

[sip]
bind_host = "127.0.0.1"
bind_port = {sip_port}
rtp_port_min = 42000
rtp_port_max = 45998
rtp_timeout_s = 10
"""
    )
    env = serve_env(work / "data", SECRET, config=str(work / "callgate.toml"))
    sipp_common = ["-i", "127.0.0.1", "-nostdin", "-trace_stat", "-fd", "5"]
    uas = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load
        ["sipp", "-sf", str(work / "uas.xml"), "-p", str(uas_port), *sipp_common],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = work / "serve.log"
    with log.open("wb") as sink_log:
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load
            [sys.executable, "-m", "callgate", "serve", "--port", str(http_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink_log,
        )
    url = f"http://127.0.0.1:{http_port}"
    uac: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.to_thread(wait_healthy, url, server, log)
        async with httpx.AsyncClient(base_url=url, timeout=20) as probe:
            token = create_token(SECRET, "acme")
            baseline = await warm_up(url, token, probe, work, sip_port, sipp_common)
            print(json.dumps({"baseline": baseline}), flush=True)
            http = httpx.AsyncClient(base_url=url, timeout=20)
            load = Load(url, token, http)
            soak_http = {"Authorization": f"Bearer {create_token(SECRET, 'soak')}"}
            rng = random.Random(21)
            sink.watch_long = True
            tasks = [asyncio.create_task(bot(load, None, rng))]
            while sink.long_ssrc is None:  # noqa: ASYNC110 - set by the RTP sink's callback
                await asyncio.sleep(0.05)
            sink.watch_long = False
            tasks += [
                asyncio.create_task(bot(load, (3.0, 12.0), random.Random(i)))
                for i in range(args.bots)
            ]
            tasks.append(asyncio.create_task(cdr_queries(load)))
            uac = subprocess.Popen(  # noqa: ASYNC220 - started once
                [
                    "sipp",
                    "-sn",
                    "uac",
                    "-s",
                    "4143",
                    "-d",
                    "5000",
                    "-l",
                    str(args.sip_in),
                    "-r",
                    str(max(1, args.sip_in // 5)),
                    "-p",
                    str(free_port()),
                    "-mp",
                    str(free_port()),
                    *sipp_common,
                    f"127.0.0.1:{sip_port}",
                ],
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started = time.monotonic()
            steal0, total0 = host_steal()
            figures0 = proc_figures(server.pid)
            metrics0 = scrape((await probe.get("/metrics")).text)
            reports = []
            prev = (started, figures0, metrics0, steal0, total0, 0)
            long_window: list[tuple[float, int]] = []
            drifts: list[float] = []
            while time.monotonic() - started < args.duration_s:
                await asyncio.sleep(args.report_s)
                await malformed(load, sip_port)
                now = time.monotonic()
                figures = proc_figures(server.pid)
                metrics = scrape((await probe.get("/metrics")).text)
                held = await health(probe)
                steal, total = host_steal()
                at, fig_prev, met_prev, steal_prev, total_prev, done_prev = prev
                long_stream = sink.streams.get(sink.long_ssrc or -1)
                window = long_stream.samples[len(long_window) :] if long_stream else []
                long_window += window
                window_drift = drift_ppm(window)
                if window_drift is not None:
                    drifts.append(window_drift)
                report = {
                    "t_s": round(now - started),
                    "concurrent_calls": held.get("live_calls", 0),
                    "socketio_calls": load.live,
                    "calls_completed": load.completed,
                    "calls_completed_window": load.completed - done_prev,
                    "cpu_percent": round(
                        100 * (figures["cpu_s"] - fig_prev["cpu_s"]) / (now - at), 1
                    ),
                    "rss_kb": figures["rss_kb"],
                    "open_fds": held.get("open_fds"),
                    "asyncio_tasks": held.get("asyncio_tasks"),
                    "tick_lateness_p99_ms": p99_upper(met_prev["buckets"], metrics["buckets"]),
                    "rtp_interval_deviation_p99_ms": p99(sink.deviations_ms),
                    "rtp_sequence_gaps": sink.gaps,
                    "skipped_frames": metrics["skipped"] - metrics0["skipped"],
                    "client_frames_dropped": metrics["dropped"] - metrics0["dropped"],
                    "drift_ppm_window": None if window_drift is None else round(window_drift, 2),
                    "steal_percent": round(
                        100 * (steal - steal_prev) / max(1, total - total_prev), 2
                    ),
                    "failures": dict(load.failures),
                }
                print(json.dumps(report), flush=True)
                reports.append(report)
                sink.deviations_ms.clear()
                sink.forget_idle(now)
                prev = (now, figures, metrics, steal, total, load.completed)
            load.stopping = True
            uac.send_signal(signal.SIGUSR1)  # sipp's soft exit: no new calls, the others end
            await asyncio.to_thread(uac.wait, 30)
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
            await http.aclose()  # its pooled connections are the load's, not the gateway's
            http = probe
            # every call ended: the probe must come back to its baseline
            deadline = time.monotonic() + 60
            while True:
                left = differences(baseline, await health(probe))
                if not left or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            lost = await lost_cdrs(http, load, soak_http)
            lost["sipp_inbound_successful"] = sipp_successful(work, "uac")
            if lost["inbound_cdrs"] is not None and lost["sipp_inbound_successful"] is not None:
                lost["lost_cdrs_inbound"] = max(
                    0, lost["sipp_inbound_successful"] - lost["inbound_cdrs"]
                )
            long_stream = sink.streams.get(sink.long_ssrc or -1)
            rss = [r["rss_kb"] for r in reports]
            half = len(drifts) // 2
            return {
                "duration_s": args.duration_s,
                "bots": args.bots,
                "sip_in_at_once": args.sip_in,
                "calls_placed_socketio": len(load.placed),
                "calls_completed_socketio": load.completed,
                **lost,
                "rss_kb_first_last": [rss[0], rss[-1]] if rss else None,
                "rss_slope_kb_per_min_last_half": _slope_per_min(reports[len(reports) // 2 :]),
                "long_call_s": round(long_stream.last_at - long_stream.first_at)
                if long_stream
                else None,
                "drift_ppm": None
                if long_stream is None
                else _round(drift_ppm(long_stream.samples)),
                "drift_ppm_first_half_mean": _round(statistics.fmean(drifts[:half]))
                if half
                else None,
                "drift_ppm_second_half_mean": _round(statistics.fmean(drifts[half:]))
                if half
                else None,
                "idle_left_after_60_s": {k: list(v) for k, v in left.items()},
                "fds_back_to_baseline": "open_fds" not in left,
                "tasks_back_to_baseline": "asyncio_tasks" not in left,
                "failures": dict(load.failures),
            }
    finally:
        if uac is not None and uac.poll() is None:
            uac.kill()
        for process in (server, uas):
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        echo.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await echo
        rtp_transport.close()


async def warm_up(
    url: str,
    token: str,
    probe: httpx.AsyncClient,
    work: Path,
    sip_port: int,
    sipp_common: list[str],
) -> dict[str, int]:
    """A little of every kind of work, then the idle state, which is the baseline: what the first
    calls create once and keep (a lazily made socket, a pool, a worker thread) is not a leak."""
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:
        load = Load(url, token, http)
        bots = [asyncio.create_task(bot(load, (0.5, 1.0), random.Random(i))) for i in range(4)]
        uac = await asyncio.create_subprocess_exec(
            *("sipp", "-sn", "uac", "-s", "4143", "-d", "1000", "-m", "2", "-l", "2"),
            *("-p", str(free_port()), "-mp", str(free_port()), *sipp_common),
            f"127.0.0.1:{sip_port}",
            cwd=work / "warm",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while load.completed < len(bots) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # a counter the bots bump, polled: warm-up only
        load.stopping = True
        await asyncio.wait_for(asyncio.gather(*bots, return_exceptions=True), 30)
        await asyncio.wait_for(uac.wait(), 30)
        await malformed(load, sip_port)
        # Lookups at once, so the store's read pool opens connections it keeps now, not during
        # the run. Not all of it, it seems: the 25-minute run still ended 2 fds above baseline.
        lookups = [http.get(f"/v1/cdr/{sid}", headers=load.auth()) for sid in load.placed * 8]
        await asyncio.gather(*lookups)
        await http.get("/v1/cdr", params={"limit": 50}, headers=load.auth())
    # Idle: nothing of a call left (SIP transactions linger up to Timer J/K, 32 s), and the
    # standing counts the same twice half a second apart.
    previous: dict[str, int] = {}
    for _ in range(240):
        await asyncio.sleep(0.5)
        held = await health(probe)
        drained = all(v == 0 for k, v in held.items() if k not in STANDING)
        if drained and held == previous:
            return held
        previous = held
    return previous


# What an idle gateway holds for its whole life: its timers, listeners, tasks and descriptors.
STANDING = frozenset({"timers", "tick_listeners", "bus_listeners", "asyncio_tasks", "open_fds"})


async def lost_cdrs(
    http: httpx.AsyncClient, load: Load, soak_auth: dict[str, str]
) -> dict[str, Any]:
    """Outbound: every placed call's CDR, ended. Inbound: CDRs against sipp's successful calls."""
    lost = 0
    for sid in load.placed:
        response = await http.get(f"/v1/cdr/{sid}", headers=load.auth())
        if response.status_code != 200 or not response.json()["data"].get("endTime"):
            lost += 1
    listing = await http.get(
        "/v1/cdr", params={"limit": 1, "filter.direction": "inbound"}, headers=soak_auth
    )
    inbound = listing.json()["meta"]["totalItems"] if listing.status_code == 200 else None
    return {"lost_cdrs_outbound": lost, "inbound_cdrs": inbound}


def sipp_successful(work: Path, prefix: str) -> int | None:
    """SuccessfulCall(C) from the last line of sipp's -trace_stat file."""
    for path in work.glob(f"{prefix}_*_.csv"):
        lines = path.read_text().strip().splitlines()
        if len(lines) >= 2:
            row = dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))
            return int(row.get("SuccessfulCall(C)", "0") or 0)
    return None


def _slope_per_min(reports: list[dict[str, Any]]) -> float | None:
    if len(reports) < 3:
        return None
    xs = [r["t_s"] / 60 for r in reports]
    ys = [r["rss_kb"] for r in reports]
    return round(statistics.linear_regression(xs, ys).slope, 1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=600)
    parser.add_argument("--bots", type=int, default=40, help="Socket.IO bots, one call each")
    parser.add_argument("--sip-in", type=int, default=20, help="inbound SIP calls at once")
    parser.add_argument("--report-s", type=float, default=30)
    args = parser.parse_args()
    # uvloop here too: libuv reads a burst of datagrams per wake-up, where asyncio's own loop reads
    # one, which left the echo socket of 200 calls (10,000 packets/s) overflowing.
    print(json.dumps({"final": uvloop.run(run(args))}), flush=True)


if __name__ == "__main__":
    main()
