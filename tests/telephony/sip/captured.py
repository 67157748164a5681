"""SIP messages in the shape real PBXs and carriers send them (Asterisk/chan_pjsip, FreeSWITCH,
a PJSIP softphone, a Kamailio edge, a SIP-I carrier), for parser and validation tests.

Addresses use documentation ranges; everything else follows what these stacks put on the wire
(header order, branch and tag styles, Allow/Supported sets, SDP with telephone-event).
"""

from __future__ import annotations


def _message(head: str, body: str = "", *, length: bool = True) -> bytes:
    """CRLF-join a head written with \\n, add Content-Length as the sender would, append body."""
    lines = head.strip("\n").split("\n")
    if length:
        lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def _sdp(text: str) -> str:
    return "\r\n".join(text.strip("\n").split("\n")) + "\r\n"


ASTERISK_SDP = _sdp("""
v=0
o=- 1190462393 1190462393 IN IP4 198.51.100.10
s=Asterisk
c=IN IP4 198.51.100.10
t=0 0
m=audio 17832 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
""")

# Asterisk 20 (chan_pjsip) calling out through a trunk: our gateway is the callee.
ASTERISK_INVITE = _message(
    """
INVITE sip:+15551230001@203.0.113.5:5060 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.10:5060;rport;branch=z9hG4bKPj4c5f9a0e-8a2b-4c7e-9d5a-6f1e2b3c4d5e
From: "Front Desk" <sip:2001@198.51.100.10>;tag=8f0b2c4e-1d3a-4b5c-9e7f-0a1b2c3d4e5f
To: <sip:+15551230001@203.0.113.5>
Contact: <sip:asterisk@198.51.100.10:5060>
Call-ID: 3c5a1e9d-7b2f-4d6e-8a0c-1f2e3d4c5b6a
CSeq: 14723 INVITE
Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER
Supported: 100rel, timer, replaces, norefersub, histinfo
Session-Expires: 1800
Min-SE: 90
P-Asserted-Identity: "Front Desk" <sip:2001@198.51.100.10>
Max-Forwards: 70
User-Agent: Asterisk PBX 20.5.0
Content-Type: application/sdp
""",
    ASTERISK_SDP,
)

FREESWITCH_SDP = _sdp("""
v=0
o=FreeSWITCH 1700130000 1700130001 IN IP4 192.0.2.40
s=FreeSWITCH
c=IN IP4 192.0.2.40
t=0 0
m=audio 24050 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
""")

# FreeSWITCH answering our INVITE (we are the UAC: one Via, ours, with received/rport filled in).
FREESWITCH_200 = _message(
    """
SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK.7f3a9c21e0;rport=5060;received=203.0.113.5
From: "callgate" <sip:gateway@203.0.113.5>;tag=cg-5d1e9a
To: <sip:1000@192.0.2.40>;tag=XKj3r0g8gD1mS
Call-ID: cg-0c9e4a7b2d@203.0.113.5
CSeq: 1 INVITE
Contact: <sip:1000@192.0.2.40:5080;transport=udp>
User-Agent: FreeSWITCH-mod_sofia/1.10.11-release~64bit
Accept: application/sdp
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY
Supported: timer, path, replaces
Allow-Events: talk, hold, conference, refer
Session-Expires: 1800;refresher=uac
Content-Type: application/sdp
Content-Disposition: session
Remote-Party-ID: "Extension 1000" <sip:1000@192.0.2.40>;party=calling;privacy=off;screen=no
""",
    FREESWITCH_SDP,
)

# The ACK we send for that 200 (end-to-end, its own branch, through the dialog's remote target).
PJSIP_ACK = _message(
    """
ACK sip:1000@192.0.2.40:5080;transport=udp SIP/2.0
Via: SIP/2.0/UDP 203.0.113.5:5060;rport;branch=z9hG4bKPj.0a1b2c3d4e
Max-Forwards: 70
From: "callgate" <sip:gateway@203.0.113.5>;tag=cg-5d1e9a
To: <sip:1000@192.0.2.40>;tag=XKj3r0g8gD1mS
Call-ID: cg-0c9e4a7b2d@203.0.113.5
CSeq: 1 ACK
"""
)

# A pjsua softphone hanging up, with the Q.850 cause.
PJSIP_BYE = _message(
    """
BYE sip:gateway@203.0.113.5:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.77:5064;rport;branch=z9hG4bKPjb1d9e3f0a8c24e6b
Max-Forwards: 70
From: <sip:alice@192.0.2.77>;tag=0a9d6b8c2f3e4a1b
To: "callgate" <sip:gateway@203.0.113.5>;tag=cg-77e0b3
Call-ID: 4ad3c0f1e8b27d9a
CSeq: 4711 BYE
Reason: Q.850;cause=16;text="Normal call clearing"
User-Agent: PJSUA v2.14 Linux-6.1/x86_64/glibc-2.36
"""
)

# Kamailio in front of a carrier, compact forms and a Record-Route, ringing.
KAMAILIO_180 = _message(
    """
SIP/2.0 180 Ringing
v: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK.3e8f0a;rport=5060
f: <sip:gateway@203.0.113.5>;tag=cg-1a2b3c
t: <sip:+15557654321@carrier.example.net>;tag=as5f2e7a1c
i: cg-77aa0c3e@203.0.113.5
CSeq: 2 INVITE
Record-Route: <sip:198.51.100.200;lr;ftag=cg-1a2b3c;did=4e2.a1f2>
m: <sip:+15557654321@198.51.100.201:5060>
Server: Carrier SBC
"""
).replace(b"Content-Length: 0", b"l: 0")

# A SIP-I carrier: SDP plus ISUP in multipart/mixed, the ISUP marked optional.
SIPI_BODY = (
    "--unique-boundary-1\r\n"
    "Content-Type: application/sdp\r\n"
    "\r\n"
    + _sdp("""
v=0
o=- 0 0 IN IP4 198.51.100.201
s=-
c=IN IP4 198.51.100.201
t=0 0
m=audio 31000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
""")
    + "--unique-boundary-1\r\n"
    "Content-Type: application/ISUP;version=itu-t92+\r\n"
    "Content-Disposition: signal;handling=optional\r\n"
    "\r\n"
    "\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x00\x03\r\n"
    "--unique-boundary-1--\r\n"
)
SIPI_INVITE = _message(
    """
INVITE sip:+4930123456@203.0.113.5;user=phone SIP/2.0
Via: SIP/2.0/UDP 198.51.100.201:5060;branch=z9hG4bK9a8b7c6d5e4f
Max-Forwards: 69
From: <sip:+4940987654@carrier.example.net;user=phone>;tag=1928301774
To: <sip:+4930123456@203.0.113.5;user=phone>
Call-ID: a84b4c76e66710@198.51.100.201
CSeq: 314159 INVITE
Contact: <sip:+4940987654@198.51.100.201:5060>
MIME-Version: 1.0
Content-Type: multipart/mixed;boundary=unique-boundary-1
""",
    SIPI_BODY,
)

# A registrar challenge: the commas in WWW-Authenticate separate nothing.
ASTERISK_401 = _message(
    """
SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 203.0.113.5:5060;rport=5060;received=203.0.113.5;branch=z9hG4bK.r1
Call-ID: reg-1f0e2d3c@203.0.113.5
From: <sip:gateway@pbx.example.com>;tag=cg-reg1
To: <sip:gateway@pbx.example.com>;tag=z9hG4bK.r1
CSeq: 1 REGISTER
WWW-Authenticate: {challenge}
Server: Asterisk PBX 20.5.0
""".format(
        challenge='Digest realm="asterisk",nonce="1700000000/0a1b2c3d4e5f",opaque="5a6b7c8d",'
        'algorithm=MD5,qop="auth"'
    )
)

# Kamailio probing us.
KAMAILIO_OPTIONS = _message(
    """
OPTIONS sip:203.0.113.5:5060 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.200:5060;branch=z9hG4bK2c1d.7ef0a1b2000000000000000000000000.0
From: <sip:keepalive@198.51.100.200>;tag=0f1e2d3c-4b5a
To: <sip:203.0.113.5:5060>
Call-ID: 6f1a5c2e-0b9d-4e3f-8a7b-2c1d0e9f8a7b
CSeq: 10 OPTIONS
Max-Forwards: 70
User-Agent: kamailio (5.7.4 (x86_64/linux))
"""
)

# Our answer to a CANCELled INVITE.
GATEWAY_487 = _message(
    """
SIP/2.0 487 Request Terminated
Via: SIP/2.0/UDP 198.51.100.10:5060;rport=5060;received=198.51.100.10;branch=z9hG4bKPj4c5f
From: "Front Desk" <sip:2001@198.51.100.10>;tag=8f0b2c4e
To: <sip:+15551230001@203.0.113.5>;tag=cg-9e8d7c
Call-ID: 3c5a1e9d-7b2f-4d6e-8a0c-1f2e3d4c5b6a
CSeq: 14723 INVITE
"""
)

ALL: dict[str, bytes] = {
    "asterisk_invite": ASTERISK_INVITE,
    "freeswitch_200": FREESWITCH_200,
    "pjsip_ack": PJSIP_ACK,
    "pjsip_bye": PJSIP_BYE,
    "kamailio_180": KAMAILIO_180,
    "sipi_invite": SIPI_INVITE,
    "asterisk_401": ASTERISK_401,
    "kamailio_options": KAMAILIO_OPTIONS,
    "gateway_487": GATEWAY_487,
}
