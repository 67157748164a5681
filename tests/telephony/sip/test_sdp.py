"""SDP offer/answer for G.711 + telephone-event against offers as real peers write them."""

from __future__ import annotations

import pytest

from callgate.telephony.sip import (
    Codec,
    Direction,
    MediaConfig,
    SdpError,
    SdpNegotiationError,
    SdpSession,
    parse_sdp,
)

from . import captured


def sdp(text: str) -> bytes:
    return ("\r\n".join(text.strip("\n").split("\n")) + "\r\n").encode()


# pjsua 2.14 (PJSIP): opus first, telephone-event at three clock rates; the 8 kHz one is 120.
PJSIP_OFFER = sdp("""
v=0
o=- 3913448540 3913448540 IN IP4 192.0.2.77
s=pjmedia
b=AS:117
t=0 0
a=X-nat:0
m=audio 4000 RTP/AVP 96 9 8 0 101 102 120 121
c=IN IP4 192.0.2.77
b=TIAS:96000
a=rtcp:4001 IN IP4 192.0.2.77
a=sendrecv
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:9 G722/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/48000
a=fmtp:101 0-16
a=rtpmap:102 telephone-event/16000
a=fmtp:102 0-16
a=rtpmap:120 telephone-event/8000
a=fmtp:120 0-16
a=rtpmap:121 telephone-event/32000
a=fmtp:121 0-16
a=ssrc:1543672826 cname:3a5d61d06bd0457c
""")

# baresip 3.x with the g711 module, as DESIGN.md's tests run it.
BARESIP_OFFER = sdp("""
v=0
o=- 1528102362 3401562391 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10002 RTP/AVP 0 8 101
b=AS:83
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=ssrc:2836409561 cname:sip:alice@127.0.0.1
a=rtcp-rsize
a=ptime:20
""")

# sipp's built-in uac scenario: PCMU only, no telephone-event, no ptime.
SIPP_OFFER = sdp("""
v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")

LOCAL = MediaConfig(address="203.0.113.5", port=30000)


def session(config: MediaConfig = LOCAL) -> SdpSession:
    return SdpSession(config, session_id=4242)


def lines(body: bytes) -> list[str]:
    return body.decode().split("\r\n")[:-1]


def test_our_offer_exactly() -> None:
    assert lines(session().offer()) == [
        "v=0",
        "o=callgate 4242 4242 IN IP4 203.0.113.5",
        "s=callgate",
        "c=IN IP4 203.0.113.5",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]


def test_answer_to_asterisk() -> None:
    body, audio = session().answer(captured.ASTERISK_SDP.encode())
    assert lines(body)[5:] == [
        "m=audio 30000 RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]
    assert audio.codec == Codec("PCMU", 0)
    assert (audio.remote_address, audio.remote_port) == ("198.51.100.10", 17832)
    assert audio.telephone_event_pt == 101
    assert audio.remote_ptime_ms == 20
    assert (audio.direction, audio.on_hold, audio.send, audio.receive) == (
        Direction.SENDRECV,
        False,
        True,
        True,
    )


def test_answer_mirrors_pjsips_telephone_event_120_and_ignores_the_48_khz_one() -> None:
    body, audio = session().answer(PJSIP_OFFER)
    assert audio.telephone_event_pt == 120
    assert audio.codec == Codec("PCMU", 0)  # our preference, although pjsua lists PCMA first
    assert "m=audio 30000 RTP/AVP 0 120" in lines(body)
    assert "a=rtpmap:120 telephone-event/8000" in lines(body)
    assert "a=fmtp:120 0-16" in lines(body)
    # Media-level c= is where pjsua wants its RTP.
    assert (audio.remote_address, audio.remote_port) == ("192.0.2.77", 4000)


def test_codec_preference_is_configurable() -> None:
    config = MediaConfig(address="203.0.113.5", port=30000, codecs=("PCMA", "PCMU"))
    _, audio = session(config).answer(PJSIP_OFFER)
    assert audio.codec == Codec("PCMA", 8)
    assert lines(session(config).offer())[5] == "m=audio 30000 RTP/AVP 8 0 101"


def test_answer_to_freeswitch_and_baresip() -> None:
    _, audio = session().answer(captured.FREESWITCH_SDP.encode())
    assert (audio.codec, audio.telephone_event_pt) == (Codec("PCMU", 0), 101)
    body, audio = session().answer(BARESIP_OFFER)
    assert audio.telephone_event_pt == 101
    assert "a=fmtp:101 0-15" in lines(body)  # its event range, mirrored


def test_answer_to_sipp_has_no_telephone_event() -> None:
    body, audio = session().answer(SIPP_OFFER)
    assert audio.telephone_event_pt is None
    assert lines(body)[5:7] == ["m=audio 30000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"]
    assert not any("telephone-event" in line for line in lines(body))


def test_a_dynamic_payload_type_for_g711_is_kept() -> None:
    offer = SIPP_OFFER.replace(b"RTP/AVP 0", b"RTP/AVP 96").replace(b"rtpmap:0", b"rtpmap:96")
    body, audio = session().answer(offer)
    assert audio.codec == Codec("PCMU", 96)
    assert "m=audio 30000 RTP/AVP 96" in lines(body)


def test_no_common_codec_is_a_488_with_a_warning() -> None:
    offer = sdp("""
v=0
o=- 1 1 IN IP4 192.0.2.9
s=-
c=IN IP4 192.0.2.9
t=0 0
m=audio 5004 RTP/AVP 18 101
a=rtpmap:18 G729/8000
a=rtpmap:101 telephone-event/8000
""")
    with pytest.raises(SdpNegotiationError) as caught:
        session().answer(offer)
    error = caught.value
    assert error.status == 488
    assert "G729/8000" in error.detail
    assert error.warning_value("gw.example.com") == (
        '305 gw.example.com "Incompatible media format"'
    )


def test_srtp_only_audio_is_refused() -> None:
    offer = SIPP_OFFER.replace(b"RTP/AVP", b"RTP/SAVP")
    with pytest.raises(SdpNegotiationError, match="RTP/SAVP"):
        session().answer(offer)


def test_streams_we_do_not_take_are_rejected_in_place() -> None:
    offer = sdp("""
v=0
o=- 7 7 IN IP4 192.0.2.9
s=-
c=IN IP4 192.0.2.9
t=0 0
m=video 5006 RTP/AVP 97
a=rtpmap:97 H264/90000
m=audio 5004 RTP/AVP 8
m=audio 5008 RTP/AVP 0
""")
    body, audio = session().answer(offer)
    media_lines = [line for line in lines(body) if line.startswith("m=")]
    assert media_lines == [
        "m=video 0 RTP/AVP 97",
        "m=audio 30000 RTP/AVP 8",
        "m=audio 0 RTP/AVP 0",
    ]
    assert (audio.codec, audio.remote_port) == (Codec("PCMA", 8), 5004)


@pytest.mark.parametrize(
    ("offered", "answered", "on_hold"),
    [
        ("a=sendrecv", Direction.SENDRECV, False),
        ("a=sendonly", Direction.RECVONLY, True),
        ("a=recvonly", Direction.SENDONLY, False),
        ("a=inactive", Direction.INACTIVE, True),
    ],
)
def test_answer_direction_mirrors_the_offer(
    offered: str, answered: Direction, on_hold: bool
) -> None:
    body, audio = session().answer(captured.ASTERISK_SDP.replace("a=sendrecv", offered).encode())
    assert f"a={answered}" in lines(body)
    assert (audio.direction, audio.on_hold) == (answered, on_hold)


def test_rfc_2543_hold_with_a_null_address() -> None:
    offer = captured.ASTERISK_SDP.replace("c=IN IP4 198.51.100.10", "c=IN IP4 0.0.0.0")
    body, audio = session().answer(offer.encode())
    assert audio.on_hold
    assert not audio.send  # nowhere to send to
    assert "a=recvonly" in lines(body)


def test_session_level_direction_applies_to_media_without_one() -> None:
    offer = SIPP_OFFER.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendonly\r\n")
    _, audio = session().answer(offer)
    assert audio.remote_direction is Direction.SENDONLY
    assert audio.on_hold


def test_we_can_hold_too() -> None:
    _, audio = session().answer(captured.ASTERISK_SDP.encode(), direction=Direction.SENDONLY)
    assert audio.direction is Direction.SENDONLY


def test_origin_version_goes_up_only_when_the_description_changes() -> None:
    ours = session()
    assert lines(ours.offer())[1] == "o=callgate 4242 4242 IN IP4 203.0.113.5"
    assert lines(ours.offer())[1] == "o=callgate 4242 4242 IN IP4 203.0.113.5"  # refresh
    hold = lines(ours.offer(direction=Direction.SENDONLY))
    assert hold[1] == "o=callgate 4242 4243 IN IP4 203.0.113.5"
    assert hold[-1] == "a=sendonly"
    assert lines(ours.offer())[1] == "o=callgate 4242 4244 IN IP4 203.0.113.5"  # unhold


def test_accepting_an_answer_to_our_offer() -> None:
    ours = session()
    ours.offer()
    audio = ours.accept_answer(captured.FREESWITCH_SDP.encode())
    assert (audio.codec, audio.telephone_event_pt) == (Codec("PCMU", 0), 101)
    assert (audio.remote_address, audio.remote_port) == ("192.0.2.40", 24050)
    pcma = captured.FREESWITCH_SDP.replace("RTP/AVP 0 101", "RTP/AVP 8 101").replace(
        "rtpmap:0 PCMU", "rtpmap:8 PCMA"
    )
    assert ours.accept_answer(pcma.encode()).codec == Codec("PCMA", 8)


def test_an_answer_refusing_our_audio_is_an_error() -> None:
    ours = session()
    ours.offer()
    refused = captured.FREESWITCH_SDP.replace("m=audio 24050", "m=audio 0")
    with pytest.raises(SdpNegotiationError):
        ours.accept_answer(refused.encode())
    g729 = captured.FREESWITCH_SDP.replace("RTP/AVP 0 101", "RTP/AVP 18").replace(
        "a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000"
    )
    with pytest.raises(SdpNegotiationError):
        ours.accept_answer(g729.encode())
    with pytest.raises(SdpError):
        session().accept_answer(captured.FREESWITCH_SDP.encode())  # we offered nothing


def test_parsing_is_lenient_about_line_ends_and_strict_about_structure() -> None:
    lf_only = SIPP_OFFER.replace(b"\r\n", b"\n")
    assert parse_sdp(lf_only).media[0].port == 6000
    for bad in (
        b"",
        b"o=- 1 1 IN IP4 1.2.3.4\r\n",  # no v=0
        b"v=0\r\ns=-\r\n",  # no o=
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 5004 RTP/AVP\r\n",
        b"v=0\r\no=- x 1 IN IP4 1.2.3.4\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nthis is not sdp\r\n",
        b"v=0\r\n\xff\xfe",
    ):
        with pytest.raises(SdpError) as caught:
            parse_sdp(bad)
        assert caught.value.status == 400
    many = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n" + b"m=audio 1 RTP/AVP 0\r\n" * 17
    with pytest.raises(SdpError, match="media"):
        parse_sdp(many)


def test_parse_keeps_what_negotiation_reads() -> None:
    description = parse_sdp(PJSIP_OFFER)
    assert description.origin.session_id == 3913448540
    assert description.connection is None
    audio = description.media[0]
    assert audio.connection is not None
    assert audio.connection.address == "192.0.2.77"
    assert audio.payload_types == (96, 9, 8, 0, 101, 102, 120, 121)
    rtpmap = audio.rtpmap(96)
    assert rtpmap is not None
    assert (rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels) == ("opus", 48000, 2)
    assert audio.fmtp(120) == "0-16"
    assert audio.direction is Direction.SENDRECV
    assert audio.attribute("rtcp") == "4001 IN IP4 192.0.2.77"


def test_only_g711_can_be_configured() -> None:
    with pytest.raises(ValueError, match="PCMU"):
        MediaConfig(address="203.0.113.5", port=1, codecs=("G729",))


def test_accepting_sipps_default_uas_answer() -> None:
    # sipp's built-in uas scenario answers PCMU alone, without telephone-event.
    ours = session()
    ours.offer()
    audio = ours.accept_answer(SIPP_OFFER)
    assert (audio.codec, audio.telephone_event_pt) == (Codec("PCMU", 0), None)
    assert (audio.remote_address, audio.remote_port) == ("127.0.0.1", 6000)
    assert audio.direction is Direction.SENDRECV
