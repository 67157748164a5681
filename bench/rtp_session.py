"""Benchmark: the sans-I/O RTP session's cost per packet, and what it means for N calls; prints JSON.

Runs `--calls` sessions the way the shared ticker drives them: on each simulated 20 ms tick, every
call first receives one G.711 packet (`on_datagram`: checks, latching, jitter buffer, A.8 jitter),
then ticks (`on_tick`: encode the application's frame, packetize, pop and decode one frame for the
application). Each phase is timed across all calls, so timer overhead vanishes and the caches see
the real working set. Each figure is given as the best and the median of `--rounds` rounds of
`--ticks` ticks, after a warm-up round; this machine is shared, so the best round is the one least
disturbed by other processes and the CPU estimates use it (the median ones are given beside them).

The CPU estimate is the engine only: a full-duplex call costs 50 x (on_datagram + on_tick) per
second. Socket system calls come on top; `udp_syscall_us` measures a plain loopback `sendto` and
`recvfrom` pair with the stdlib socket module for scale (uvloop's are of the same order).

    .venv/bin/python bench/rtp_session.py --calls 1000 --ticks 100 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import socket
import statistics
import sys
import time

import numpy as np

from callgate.media.g711 import ulaw_encode
from callgate.media.pcm import FRAME_MS, SAMPLE_RATE_HZ, SAMPLES_PER_FRAME, float_to_pcm16
from callgate.telephony.rtp import RtpConfig, RtpPacket, RtpSession

TICKS_PER_S = 1000 // FRAME_MS


def tone_frame(freq_hz: float, phase: int) -> bytes:
    t = (np.arange(SAMPLES_PER_FRAME) + phase * SAMPLES_PER_FRAME) / SAMPLE_RATE_HZ
    return float_to_pcm16(0.3 * np.sin(2 * math.pi * freq_hz * t))


def run(calls: int, ticks: int, rounds: int) -> dict[str, float]:
    config = RtpConfig(payload_type=0, telephone_event_pt=101)
    sessions = []
    peers = []
    for i in range(calls):
        peer = (f"10.0.{i // 250}.{i % 250 + 1}", 20000 + 2 * i)
        sessions.append(RtpSession(config, peer, 0.0, ssrc=i + 1, sequence_number=i, timestamp=i))
        peers.append(peer)
    out_frames = [tone_frame(440.0, k) for k in range(50)]
    # The peer's packets: 50 distinct payloads per call stream, rotated.
    in_payloads = [ulaw_encode(tone_frame(1000.0, k)) for k in range(50)]

    now = 0.0
    seqs = [0] * calls
    tick_no = 0
    datagram_us: list[float] = []
    tick_us: list[float] = []
    for round_no in range(rounds + 1):
        dg_ns = 0
        tk_ns = 0
        for _ in range(ticks):
            tick_no += 1
            now = tick_no * FRAME_MS / 1000
            k = tick_no % 50
            packets = [
                bytes(
                    RtpPacket(
                        0, (seqs[i] + tick_no) & 0xFFFF, (tick_no * 160) & 0xFFFFFFFF, 9000 + i
                    )
                )
                + in_payloads[k]
                for i in range(calls)
            ]
            frame = out_frames[k]
            start = time.perf_counter_ns()
            for session, packet, peer in zip(sessions, packets, peers, strict=True):
                session.on_datagram(packet, peer, now)
            middle = time.perf_counter_ns()
            for session in sessions:
                session.on_tick(frame)
            end = time.perf_counter_ns()
            dg_ns += middle - start
            tk_ns += end - middle
        if round_no:  # round 0 warms up (and fills the jitter buffers)
            datagram_us.append(dg_ns / 1000 / (ticks * calls))
            tick_us.append(tk_ns / 1000 / (ticks * calls))
    stats = sessions[0].stats()
    assert stats.packets_in == (rounds + 1) * ticks, stats
    assert stats.lost == 0, stats
    return {
        "on_datagram_us": min(datagram_us),
        "on_tick_us": min(tick_us),
        "on_datagram_us_median": statistics.median(datagram_us),
        "on_tick_us_median": statistics.median(tick_us),
    }


def udp_syscall_us(iterations: int) -> dict[str, float]:
    """Loopback sendto + recvfrom of a 172-byte datagram, in µs each (best of 5 rounds)."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        address = rx.getsockname()
        data = bytes(172)
        send: list[float] = []
        recv: list[float] = []
        for _ in range(5):
            batch = 1000
            send_ns = recv_ns = 0
            for _ in range(iterations // batch):
                start = time.perf_counter_ns()
                for _ in range(batch):
                    tx.sendto(data, address)
                middle = time.perf_counter_ns()
                for _ in range(batch):
                    rx.recvfrom(2048)
                send_ns += middle - start
                recv_ns += time.perf_counter_ns() - middle
            send.append(send_ns / 1000 / iterations)
            recv.append(recv_ns / 1000 / iterations)
        return {"sendto_us": min(send), "recvfrom_us": min(recv)}
    finally:
        rx.close()
        tx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--syscall-iterations", type=int, default=20000)
    args = parser.parse_args()

    engine = run(args.calls, args.ticks, args.rounds)
    per_call_s = (engine["on_datagram_us"] + engine["on_tick_us"]) * TICKS_PER_S / 1e6
    median_per_call_s = (
        (engine["on_datagram_us_median"] + engine["on_tick_us_median"]) * TICKS_PER_S / 1e6
    )
    io = udp_syscall_us(args.syscall_iterations)
    io_per_call_s = (io["sendto_us"] + io["recvfrom_us"]) * TICKS_PER_S / 1e6
    result = {
        "benchmark": "rtp_session",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "calls_simulated": args.calls,
        "ticks_per_round": args.ticks,
        "rounds": args.rounds,
        "on_datagram_us": round(engine["on_datagram_us"], 3),
        "on_tick_us": round(engine["on_tick_us"], 3),
        "on_datagram_us_median": round(engine["on_datagram_us_median"], 3),
        "on_tick_us_median": round(engine["on_tick_us_median"], 3),
        "engine_cpu_percent_of_one_core": {
            str(n): round(100 * per_call_s * n, 1) for n in (500, 1000)
        },
        "engine_cpu_percent_of_one_core_median": {
            str(n): round(100 * median_per_call_s * n, 1) for n in (500, 1000)
        },
        "udp_syscall_us": {key: round(value, 3) for key, value in io.items()},
        "with_syscalls_cpu_percent_of_one_core": {
            str(n): round(100 * (per_call_s + io_per_call_s) * n, 1) for n in (500, 1000)
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
