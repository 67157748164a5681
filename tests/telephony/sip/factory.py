"""Messages for transaction and dialog tests, written as a peer would put them on the wire."""

from __future__ import annotations

from callgate.telephony.sip import SipRequest, SipResponse, parse

US = "203.0.113.5"  # the gateway
PEER = "198.51.100.10"  # a PBX / carrier


def wire(head: str, body: str = "") -> bytes:
    """CRLF-join a head written with \\n and add Content-Length, as a sender would."""
    lines = head.strip("\n").split("\n")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def req(data: bytes) -> SipRequest:
    message = parse(data)
    assert isinstance(message, SipRequest)
    return message


def resp(data: bytes) -> SipResponse:
    message = parse(data)
    assert isinstance(message, SipResponse)
    return message


def invite(
    branch: str = "z9hG4bKPjin1",
    *,
    sent_by: str = f"{PEER}:5060",
    cseq: int = 14723,
    via_params: str = ";rport",
    to_tag: str | None = None,
    uri: str = f"sip:+15551230001@{US}:5060",
) -> bytes:
    """An INVITE from the peer to us (we are the UAS)."""
    branch_param = f";branch={branch}" if branch else ""
    to = f"<sip:+15551230001@{US}>" + (f";tag={to_tag}" if to_tag else "")
    return wire(f"""
INVITE {uri} SIP/2.0
Via: SIP/2.0/UDP {sent_by}{via_params}{branch_param}
From: "Front Desk" <sip:2001@{PEER}>;tag=fd-8f0b2c4e
To: {to}
Contact: <sip:asterisk@{PEER}:5060>
Call-ID: 3c5a1e9d-7b2f@{PEER}
CSeq: {cseq} INVITE
Max-Forwards: 70
""")


def request_from_peer(
    method: str,
    branch: str,
    *,
    cseq: int = 14724,
    to_tag: str | None = "cg-77e0b3",
    sent_by: str = f"{PEER}:5060",
    extra: str = "",
) -> bytes:
    """Any other request from the peer (BYE, OPTIONS, ACK, CANCEL ...)."""
    to = f"<sip:+15551230001@{US}>" + (f";tag={to_tag}" if to_tag else "")
    branch_param = f";branch={branch}" if branch else ""
    head = f"""
{method} sip:+15551230001@{US}:5060 SIP/2.0
Via: SIP/2.0/UDP {sent_by};rport{branch_param}
From: "Front Desk" <sip:2001@{PEER}>;tag=fd-8f0b2c4e
To: {to}
Call-ID: 3c5a1e9d-7b2f@{PEER}
CSeq: {cseq} {method}
Max-Forwards: 70
"""
    return wire(head + extra)


def our_request(method: str, branch: str, *, cseq: int = 1, body: str = "") -> SipRequest:
    """A request we send to the peer (we are the UAC)."""
    content_type = "Content-Type: application/sdp\n" if body else ""
    return req(
        wire(
            f"""
{method} sip:1000@{PEER} SIP/2.0
Via: SIP/2.0/UDP {US}:5060;rport;branch={branch}
Max-Forwards: 70
From: "callgate" <sip:gateway@{US}>;tag=cg-5d1e9a
To: <sip:1000@{PEER}>
Call-ID: cg-0c9e4a7b2d@{US}
CSeq: {cseq} {method}
Contact: <sip:gateway@{US}:5060>
{content_type}""",
            body,
        )
    )


def answer(
    request: SipRequest,
    status: int,
    *,
    to_tag: str | None = "XKj3r0g8",
    record_route: tuple[str, ...] = (),
    contact: str | None = f"<sip:1000@{PEER}:5080>",
    extra: tuple[tuple[str, str], ...] = (),
) -> SipResponse:
    """The peer's response to our `request` (its Via echoed with received / rport)."""
    via = request.get_all("Via")[0].replace(";rport", ";rport=5060;received=" + US)
    to = request.get("To") or ""
    if to_tag is not None and status != 100 and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    lines = [
        ("Via", via),
        ("From", request.get("From") or ""),
        ("To", to),
        ("Call-ID", request.call_id or ""),
        ("CSeq", str(request.cseq)),
    ]
    lines += [("Record-Route", rr) for rr in record_route]
    if contact and status > 100 and request.method == "INVITE":
        lines.append(("Contact", contact))
    lines += extra
    return SipResponse(status=status, headers=tuple(lines))
