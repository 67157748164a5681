"""Benchmark: the SIP message layer's per-message cost; prints JSON.

Times `parse` on a typical carrier INVITE with SDP (about 1 KB, the shape Asterisk sends) and on
a typical 200 OK with SDP, `bytes()` on the parsed INVITE, and `validate_request` plus
`response_for` (what a UAS does for every new INVITE). Each figure is the median over
`--rounds` rounds of `--iterations` calls, in microseconds per call, after a warm-up round.

    .venv/bin/python bench/sip_parse.py --rounds 7 --iterations 2000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

from callgate.telephony.sip import SipRequest, parse, response_for, validate_request

SDP = (
    "v=0\r\n"
    "o=- 1190462393 1190462393 IN IP4 198.51.100.10\r\n"
    "s=Asterisk\r\n"
    "c=IN IP4 198.51.100.10\r\n"
    "t=0 0\r\n"
    "m=audio 17832 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)

INVITE_HEAD = (
    "INVITE sip:+15551230001@203.0.113.5:5060 SIP/2.0",
    "Via: SIP/2.0/UDP 198.51.100.10:5060;rport;branch=z9hG4bKPj4c5f9a0e-8a2b-4c7e-9d5a-6f1e2b3c4d5e",
    'From: "Front Desk" <sip:2001@198.51.100.10>;tag=8f0b2c4e-1d3a-4b5c-9e7f-0a1b2c3d4e5f',
    "To: <sip:+15551230001@203.0.113.5>",
    "Contact: <sip:asterisk@198.51.100.10:5060>",
    "Call-ID: 3c5a1e9d-7b2f-4d6e-8a0c-1f2e3d4c5b6a",
    "CSeq: 14723 INVITE",
    "Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK",
    "Supported: 100rel, timer, replaces, norefersub",
    "Session-Expires: 1800",
    "Min-SE: 90",
    'P-Asserted-Identity: "Front Desk" <sip:2001@198.51.100.10>',
    "Max-Forwards: 70",
    "User-Agent: Asterisk PBX 20.5.0",
    "Content-Type: application/sdp",
)

OK_HEAD = (
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK.7f3a9c21e0;rport=5060;received=203.0.113.5",
    'From: "callgate" <sip:gateway@203.0.113.5>;tag=cg-5d1e9a',
    "To: <sip:1000@192.0.2.40>;tag=XKj3r0g8gD1mS",
    "Call-ID: cg-0c9e4a7b2d@203.0.113.5",
    "CSeq: 1 INVITE",
    "Contact: <sip:1000@192.0.2.40:5080;transport=udp>",
    "User-Agent: FreeSWITCH-mod_sofia/1.10.11-release~64bit",
    "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY",
    "Supported: timer, path, replaces",
    "Content-Type: application/sdp",
)


def _wire(head: tuple[str, ...]) -> bytes:
    return ("\r\n".join((*head, f"Content-Length: {len(SDP)}")) + "\r\n\r\n" + SDP).encode()


INVITE = _wire(INVITE_HEAD)
OK = _wire(OK_HEAD)


def per_call_us(func: Callable[[], object], rounds: int, iterations: int) -> float:
    """Median over rounds of the mean cost of one call, in microseconds."""
    for _ in range(iterations):  # warm-up
        func()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            func()
        samples.append((time.perf_counter() - start) / iterations * 1e6)
    return round(statistics.median(samples), 2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args(argv)

    invite = parse(INVITE)
    assert isinstance(invite, SipRequest)

    def uas_work() -> object:
        assert isinstance(invite, SipRequest)
        rejection = validate_request(invite)
        return rejection or response_for(invite, 180, to_tag="cg-1")

    result = {
        "benchmark": "sip_parse",
        "python": platform.python_version(),
        "invite_bytes": len(INVITE),
        "ok_bytes": len(OK),
        "parse_invite_us": per_call_us(lambda: parse(INVITE), args.rounds, args.iterations),
        "parse_200_ok_us": per_call_us(lambda: parse(OK), args.rounds, args.iterations),
        "serialize_invite_us": per_call_us(lambda: bytes(invite), args.rounds, args.iterations),
        "validate_and_180_us": per_call_us(uas_work, args.rounds, args.iterations),
        "rounds": args.rounds,
        "iterations": args.iterations,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
