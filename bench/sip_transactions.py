"""Benchmark: the SIP transaction layer's cost per call and under timer load; prints JSON.

- `uac_call_us`: one outbound call's signalling through `TransactionLayer` (INVITE out, 100,
  180 and 200 in, ACK out, BYE out and its 200 in, every transaction run to Terminated),
  messages pre-parsed as the transport would hand them over.
- `uas_call_us`: one inbound call (INVITE bytes in, 180 and 200 out, ACK bytes in, BYE bytes
  in, 200 out), parsing included.
- `retransmit_1000_s`: 1000 unanswered INVITEs over UDP stepped through their whole Timer A/B
  life (7000 sends, 1000 timeouts), as CPU seconds.

Figures are medians over `--rounds`; per-call figures in microseconds.

    .venv/bin/python bench/sip_transactions.py --rounds 5 --calls 2000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

from callgate.telephony.sip import (
    Dialog,
    Endpoint,
    RequestReceived,
    SipRequest,
    SipResponse,
    Target,
    TransactionLayer,
    make_request,
    parse,
    parse_address,
    parse_uri,
    response_for,
)

PEER = Target("198.51.100.10", 5060)
US = Endpoint("203.0.113.5", 5060, user="gateway")


def _peer_answer(request: SipRequest, status: int) -> SipResponse:
    via = (request.get_all("Via")[0]).replace(";rport", ";rport=5060;received=203.0.113.5")
    to = request.get("To") or ""
    if status > 100:
        to += ";tag=peer-tag"
    headers = [
        ("Via", via),
        ("From", request.get("From") or ""),
        ("To", to),
        ("Call-ID", request.call_id or ""),
        ("CSeq", str(request.cseq)),
    ]
    if status > 100 and request.method == "INVITE":
        headers.append(("Contact", "<sip:1000@198.51.100.10:5060>"))
    return SipResponse(status=status, headers=tuple(headers))


def uac_call(layer: TransactionLayer, n: int, now: float) -> None:
    invite = make_request(
        "INVITE",
        parse_uri("sip:1000@198.51.100.10"),
        via=US.via(layer.new_branch()),
        from_=parse_address(f"<sip:gateway@203.0.113.5>;tag=t{n}"),
        to=parse_address("<sip:1000@198.51.100.10>"),
        call_id=f"bench-{n}@203.0.113.5",
        cseq=1,
        contact=US.contact,
    )
    key, _ = layer.send_request(invite, PEER, now)
    for status in (100, 180):
        layer.receive(_peer_answer(invite, status), PEER, now)
    ok = _peer_answer(invite, 200)
    layer.receive(ok, PEER, now)
    dialog = Dialog.from_response(invite, ok, US)
    layer.ack_2xx(key, dialog.ack(1, branch=layer.new_branch()), dialog.target(), now)
    bye = dialog.request("BYE", branch=layer.new_branch())
    layer.send_request(bye, dialog.target(), now)
    layer.receive(_peer_answer(bye, 200), PEER, now)


def _peer_request(method: str, n: int, branch: str, cseq: int, to_tag: str = "") -> bytes:
    tag = f";tag={to_tag}" if to_tag else ""
    return (
        f"{method} sip:+15551230001@203.0.113.5:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 198.51.100.10:5060;rport;branch={branch}\r\n"
        f"From: <sip:2001@198.51.100.10>;tag=fd{n}\r\n"
        f"To: <sip:+15551230001@203.0.113.5>{tag}\r\n"
        f"Contact: <sip:asterisk@198.51.100.10:5060>\r\n"
        f"Call-ID: in-{n}@198.51.100.10\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Max-Forwards: 70\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def uas_call(layer: TransactionLayer, n: int, now: float) -> None:
    actions = layer.receive_data(_peer_request("INVITE", n, f"z9hG4bKi{n}", 1), PEER, now)
    new = next(a for a in actions if isinstance(a, RequestReceived))
    layer.respond(new.key, response_for(new.request, 180, to_tag=f"cg{n}"), now)
    layer.respond(new.key, response_for(new.request, 200, to_tag=f"cg{n}"), now)
    layer.receive_data(_peer_request("ACK", n, f"z9hG4bKa{n}", 1, f"cg{n}"), PEER, now)
    actions = layer.receive_data(_peer_request("BYE", n, f"z9hG4bKb{n}", 2, f"cg{n}"), PEER, now)
    bye = next(a for a in actions if isinstance(a, RequestReceived))
    layer.respond(bye.key, response_for(bye.request, 200), now)


def drain(layer: TransactionLayer) -> None:
    while (deadline := layer.next_deadline()) is not None:
        layer.expire(deadline)


def per_call(scenario: str, calls: int) -> float:
    layer = TransactionLayer()
    run = uac_call if scenario == "uac" else uas_call
    start = time.process_time()
    for n in range(calls):
        run(layer, n, n * 0.001)
    drain(layer)
    assert len(layer) == 0
    return (time.process_time() - start) / calls * 1e6


def retransmissions() -> float:
    layer = TransactionLayer()
    invites = [
        make_request(
            "INVITE",
            parse_uri("sip:1000@198.51.100.10"),
            via=US.via(layer.new_branch()),
            from_=parse_address(f"<sip:gateway@203.0.113.5>;tag=r{n}"),
            to=parse_address("<sip:1000@198.51.100.10>"),
            call_id=f"rt-{n}@203.0.113.5",
            cseq=1,
        )
        for n in range(1000)
    ]
    start = time.process_time()
    for n, invite in enumerate(invites):
        layer.send_request(invite, PEER, n * 0.001)
    drain(layer)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    assert isinstance(parse(_peer_request("OPTIONS", 0, "z9hG4bKw", 1)), SipRequest)
    per_call("uac", 100)  # warm-up
    result = {
        "benchmark": "sip_transactions",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "calls": args.calls,
        "uac_call_us": round(
            statistics.median(per_call("uac", args.calls) for _ in range(args.rounds)), 1
        ),
        "uas_call_us": round(
            statistics.median(per_call("uas", args.calls) for _ in range(args.rounds)), 1
        ),
        "retransmit_1000_s": round(
            statistics.median(retransmissions() for _ in range(args.rounds)), 4
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
