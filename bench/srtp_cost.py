"""Benchmark: what SRTP adds per RTP packet (libsrtp through pylibsrtp); prints JSON.

Times `SrtpSender.protect` and `SrtpReceiver.unprotect` (`callgate/telephony/rtp/srtp.py`) on the
packets a call really sends: 20 ms of PCMU, 172 bytes, sequence numbers in a row, made by our
own `RtpSession`. Each round protects `--packets` fresh packets, then unprotects them with a
fresh receiver (a packet can be unprotected once: the second time is a replay). Each figure is
the median over `--rounds` rounds, in nanoseconds per packet, after a warm-up round. `core_pct_at`
turns protect+unprotect into the share of one core that SRTP costs for N calls (50 packets a
second each way per call).

    .venv/bin/python bench/srtp_cost.py --rounds 7 --packets 20000
"""

from __future__ import annotations

import argparse
import json
import platform
import secrets
import statistics
import sys
import time

from callgate.media.pcm import SILENCE_FRAME
from callgate.telephony.rtp import RtpConfig, RtpSession
from callgate.telephony.rtp.srtp import SRTP_SUITES, SrtpReceiver, SrtpSender

PACKETS_PER_S = 50  # one 20 ms packet each way per call


def rtp_packets(count: int) -> list[bytes]:
    session = RtpSession(RtpConfig(), ("192.0.2.1", 40000), 0.0)
    packets = []
    for _ in range(count):
        datagram = session.send_tick(SILENCE_FRAME)
        assert datagram is not None
        packets.append(datagram[0])
    return packets


def one_round(suite: str, packets: list[bytes]) -> tuple[float, float]:
    """(protect, unprotect) ns per packet, with a fresh key and contexts."""
    key = secrets.token_bytes(30)
    sender, receiver = SrtpSender(suite, key), SrtpReceiver(suite, key)
    protect, unprotect = sender.protect, receiver.unprotect
    start = time.perf_counter_ns()
    protected = [protect(packet) for packet in packets]
    middle = time.perf_counter_ns()
    plain = [unprotect(packet) for packet in protected if packet is not None]
    end = time.perf_counter_ns()
    assert plain == packets, "a packet did not survive the round trip"
    return (middle - start) / len(packets), (end - middle) / len(packets)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--packets", type=int, default=20_000)
    args = parser.parse_args(argv)
    packets = rtp_packets(args.packets)

    suites = {}
    for suite in sorted(SRTP_SUITES):
        one_round(suite, packets)  # warm-up
        samples = [one_round(suite, packets) for _ in range(args.rounds)]
        protect_ns = statistics.median(s[0] for s in samples)
        unprotect_ns = statistics.median(s[1] for s in samples)
        both_ns = protect_ns + unprotect_ns
        suites[suite] = {
            "protect_ns": round(protect_ns),
            "unprotect_ns": round(unprotect_ns),
            "protect_plus_unprotect_ns": round(both_ns),
            "core_pct_at": {
                str(calls): round(both_ns * PACKETS_PER_S * calls / 1e9 * 100, 2)
                for calls in (100, 500)
            },
        }
    result = {
        "benchmark": "srtp_cost",
        "python": platform.python_version(),
        "packet_bytes": len(packets[0]),
        "suites": suites,
        "rounds": args.rounds,
        "packets": args.packets,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
