"""Benchmark: CPU the SIP TCP receive path spends per MB when the bytes trickle in; prints JSON.

Drives the transport's connection protocol (`_Stream.data_received`: framing, then delivery to a
counting handler) by hand with reads of `--chunks` bytes, for messages whose header sections are
small (a 250-byte OPTIONS) and big (about 56 KB of header fields, what an attacker
trickling a message at the limit sends). Before issue 12 each read copied and rescanned the whole
buffer: 0.84 s per MB in the issue's run, growing with the size of the message. Each figure is the
best of `--rounds` runs over `--megabytes` MB, in CPU milliseconds per MB (`time.process_time`).

Measured 2026-12-03 on this 2-core VM (1 MB, best of 2; ms per MB, 32-byte / 1460-byte reads):
56 KB heads 602 / 17 before, 58 / 6 after; 250-byte messages 129 / 68 before, 86 / 39 after
(the reference loop read 115 ms before, 68 ms after: a quieter machine, so compare the ratios).

    .venv/bin/python bench/sip_tcp_trickle.py --megabytes 1 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import reference_ms
from callgate.telephony.sip import Target
from callgate.telephony.siptrunk import transport


class _Wire:
    """Just enough of a stream transport for the protocol: the peer's address, writes dropped."""

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 5060) if name == "peername" else None

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def message(head_bytes: int, index: int) -> bytes:
    padding = "".join(
        f"X-Padding-{n}: {'p' * min(8_000, head_bytes - n * 8_000)}\r\n"
        for n in range(head_bytes // 8_000)
    )
    return (
        "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKtrickle{index}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:carrier@127.0.0.1>;tag=c1\r\nTo: <sip:gw@127.0.0.1>\r\n"
        f"Call-ID: trickle-{index}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n{padding}"
        "Content-Length: 10\r\n\r\n0123456789"
    ).encode()


def cpu_ms_per_mb(stream: bytes, chunk: int, rounds: int) -> tuple[float, int]:
    best = float("inf")
    delivered = 0
    for _ in range(rounds):
        count = [0]

        def on_message(data: bytes, source: Target, count: list[int] = count) -> None:
            count[0] += 1

        owner = transport.SipTransport(on_message, lambda key: None)
        protocol = transport._Stream(owner)
        protocol.connection_made(_Wire())  # type: ignore[arg-type]
        started = time.process_time()
        for offset in range(0, len(stream), chunk):
            protocol.data_received(stream[offset : offset + chunk])
        best = min(best, time.process_time() - started)
        delivered = count[0]
    return round(1000 * best / (len(stream) / 1e6), 1), delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, nargs="+", default=[32, 1460])
    args = parser.parse_args()
    reference_before = reference_ms()
    results = []
    for label, head_bytes in (("small_250B", 0), ("big_head_56KB", 56_000)):
        one = message(head_bytes, 0)
        count = max(1, int(args.megabytes * 1e6 // len(one)))
        stream = b"".join(message(head_bytes, i) for i in range(count))
        for chunk in args.chunks:
            ms, delivered = cpu_ms_per_mb(stream, chunk, args.rounds)
            results.append(
                {
                    "messages": label,
                    "message_bytes": len(one),
                    "read_bytes": chunk,
                    "megabytes": round(len(stream) / 1e6, 2),
                    "delivered": delivered,
                    "cpu_ms_per_mb": ms,
                }
            )
    print(
        json.dumps(
            {
                "bench": "sip_tcp_trickle",
                "python": platform.python_version(),
                "reference_ms_before": reference_before,
                "reference_ms_after": reference_ms(),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
