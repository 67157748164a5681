"""SDES offer/answer per `media_encryption`: what we offer, what we answer, what we refuse."""

from __future__ import annotations

import base64

import pytest

from callgate.telephony.sip import MediaConfig, SdpNegotiationError, SdpSession, parse_sdp
from callgate.telephony.sip.sdes import CryptoAttribute, CryptoSuite, MediaEncryption

from .test_sdp import sdp

NONE, OPTIONAL, REQUIRED = MediaEncryption.NONE, MediaEncryption.OPTIONAL, MediaEncryption.REQUIRED
PEER_KEY = "BAlQg36tY5gQTBgY2WjU5PKqSStUWl/Pvu2j4fxK"
# What today's code (before SRTP) offered, byte for byte: `none` must never change it.
PLAIN_OFFER = (
    b"v=0\r\no=callgate 7 7 IN IP4 192.0.2.10\r\ns=callgate\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
)


def session(encryption: MediaEncryption, **config: object) -> SdpSession:
    return SdpSession(
        MediaConfig("192.0.2.10", 4000, media_encryption=encryption, **config),  # type: ignore[arg-type]
        session_id=7,
    )


def peer_offer(proto: str = "RTP/AVP", *crypto: str) -> bytes:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        f"m=audio 40000 {proto} 0 8 101",
        "a=rtpmap:101 telephone-event/8000",
        *(f"a=crypto:{line}" for line in crypto),
        "a=sendrecv",
    ]
    return sdp("\n".join(lines))


BARESIP_LINE = f"1 AES_CM_128_HMAC_SHA1_80 inline:{PEER_KEY}"


def crypto_lines(body: bytes) -> list[CryptoAttribute]:
    media = parse_sdp(body).media[0]
    return [CryptoAttribute.parse(v or "") for k, v in media.attributes if k == "crypto"]


# --- what we offer ------------------------------------------------------------------------


def test_none_offers_exactly_what_callgate_offered_before_srtp():
    assert session(NONE).offer() == PLAIN_OFFER
    assert SdpSession(MediaConfig("192.0.2.10", 4000), session_id=7).offer() == PLAIN_OFFER


@pytest.mark.parametrize(("encryption", "proto"), [(OPTIONAL, "RTP/AVP"), (REQUIRED, "RTP/SAVP")])
def test_optional_and_required_offer_one_fresh_key_per_suite(encryption, proto):
    ours = session(encryption)
    offer = ours.offer()
    assert parse_sdp(offer).media[0].proto == proto
    lines = crypto_lines(offer)
    assert [(c.tag, c.suite) for c in lines] == [
        (1, CryptoSuite.AES_CM_128_HMAC_SHA1_80),
        (2, CryptoSuite.AES_CM_128_HMAC_SHA1_32),
    ]
    assert lines[0].key_salt != lines[1].key_salt
    assert ours.offer() == offer  # a re-offer repeats our keys (and the o= version)
    assert crypto_lines(session(encryption).offer())[0].key_salt != lines[0].key_salt


def test_the_suites_setting_orders_and_limits_the_offer():
    offer = session(OPTIONAL, srtp_suites=(CryptoSuite.AES_CM_128_HMAC_SHA1_32,)).offer()
    assert [(c.tag, c.suite) for c in crypto_lines(offer)] == [
        (1, CryptoSuite.AES_CM_128_HMAC_SHA1_32)
    ]


# --- answering an offer ---------------------------------------------------------------------


def test_none_ignores_offered_crypto_and_refuses_savp():
    body, audio = session(NONE).answer(peer_offer("RTP/AVP", BARESIP_LINE))
    assert audio.srtp is None
    assert b"crypto" not in body
    with pytest.raises(SdpNegotiationError, match="audio over RTP/SAVP"):
        session(NONE).answer(peer_offer("RTP/SAVP", BARESIP_LINE))


@pytest.mark.parametrize("encryption", [OPTIONAL, REQUIRED])
@pytest.mark.parametrize("proto", ["RTP/AVP", "RTP/SAVP"])
def test_an_offer_with_a_usable_line_is_answered_with_its_tag_suite_and_our_key(encryption, proto):
    ours = session(encryption)
    body, audio = ours.answer(peer_offer(proto, BARESIP_LINE))
    assert parse_sdp(body).media[0].proto == proto
    (answered,) = crypto_lines(body)
    assert (answered.tag, answered.suite) == (1, CryptoSuite.AES_CM_128_HMAC_SHA1_80)
    assert audio.srtp is not None
    assert audio.srtp.suite is CryptoSuite.AES_CM_128_HMAC_SHA1_80
    assert audio.srtp.receive_key == base64.b64decode(PEER_KEY)
    assert audio.srtp.send_key == answered.key_salt != audio.srtp.receive_key
    # A re-offer (session refresh) is answered with the same key of ours.
    again, _ = ours.answer(peer_offer(proto, BARESIP_LINE))
    assert crypto_lines(again) == [answered]


def test_the_first_usable_line_wins_in_the_offerers_order():
    offer = peer_offer(
        "RTP/SAVP",
        f"1 AEAD_AES_256_GCM inline:{PEER_KEY}",
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{PEER_KEY}|2^20|1:4",  # MKI: not usable
        f"3 AES_CM_128_HMAC_SHA1_32 inline:{PEER_KEY}",
        f"4 AES_CM_128_HMAC_SHA1_80 inline:{PEER_KEY}",
    )
    body, audio = session(OPTIONAL).answer(offer)
    assert [(c.tag, c.suite) for c in crypto_lines(body)] == [
        (3, CryptoSuite.AES_CM_128_HMAC_SHA1_32)
    ]
    assert audio.srtp is not None
    assert audio.srtp.suite is CryptoSuite.AES_CM_128_HMAC_SHA1_32
    limited = session(OPTIONAL, srtp_suites=(CryptoSuite.AES_CM_128_HMAC_SHA1_80,))
    assert crypto_lines(limited.answer(offer)[0])[0].tag == 4


def test_optional_answers_a_plain_offer_with_plain_rtp():
    body, audio = session(OPTIONAL).answer(peer_offer("RTP/AVP"))
    assert audio.srtp is None
    assert b"crypto" not in body
    assert parse_sdp(body).media[0].proto == "RTP/AVP"


@pytest.mark.parametrize(
    "offer",
    [
        peer_offer("RTP/AVP"),
        peer_offer("RTP/AVP", f"1 AEAD_AES_128_GCM inline:{PEER_KEY}"),
    ],
)
def test_required_refuses_a_plain_offer_with_488_and_a_warning(offer):
    with pytest.raises(SdpNegotiationError) as refused:
        session(REQUIRED).answer(offer)
    assert refused.value.status == 488
    assert "no usable a=crypto line" in refused.value.detail
    assert refused.value.warning_value("gw") == '305 gw "SRTP required (RTP/SAVP with a=crypto)"'
    assert PEER_KEY not in str(refused.value)


def test_savp_without_a_usable_line_is_refused_even_when_optional():
    with pytest.raises(SdpNegotiationError, match="no usable a=crypto line"):
        session(OPTIONAL).answer(
            peer_offer("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{PEER_KEY}|1:4")
        )


# --- the answer to our offer ----------------------------------------------------------------


@pytest.mark.parametrize("encryption", [OPTIONAL, REQUIRED])
def test_an_answer_naming_our_tag_settles_srtp_with_our_key_for_sending(encryption):
    ours = session(encryption)
    offered = crypto_lines(ours.offer())
    audio = ours.accept_answer(
        peer_offer("RTP/SAVP", f"2 AES_CM_128_HMAC_SHA1_32 inline:{PEER_KEY}")
    )
    assert audio.srtp is not None
    assert audio.srtp.suite is CryptoSuite.AES_CM_128_HMAC_SHA1_32
    assert audio.srtp.send_key == offered[1].key_salt
    assert audio.srtp.receive_key == base64.b64decode(PEER_KEY)


def test_optional_takes_a_plain_answer_as_plain_rtp():
    ours = session(OPTIONAL)
    ours.offer()
    assert ours.accept_answer(peer_offer("RTP/AVP")).srtp is None


@pytest.mark.parametrize(
    "crypto",
    [
        (),
        (f"7 AES_CM_128_HMAC_SHA1_80 inline:{PEER_KEY}",),  # a tag we never offered
        (f"1 AES_CM_128_HMAC_SHA1_32 inline:{PEER_KEY}",),  # our tag 1 is the 80-bit suite
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{PEER_KEY}|1:4",),  # MKI
    ],
)
def test_required_fails_an_answer_without_a_usable_line(crypto):
    ours = session(REQUIRED)
    ours.offer()
    with pytest.raises(SdpNegotiationError, match=r"no usable a=crypto .*required") as failed:
        ours.accept_answer(peer_offer("RTP/AVP", *crypto))
    assert PEER_KEY not in str(failed.value)


def test_a_savp_answer_without_a_key_is_unusable_when_optional():
    ours = session(OPTIONAL)
    ours.offer()
    with pytest.raises(SdpNegotiationError):
        ours.accept_answer(peer_offer("RTP/SAVP"))


def test_reprs_of_parsed_sdp_and_results_hold_no_key():
    ours = session(OPTIONAL)
    body, audio = ours.answer(peer_offer("RTP/SAVP", BARESIP_LINE))
    mine = base64.b64encode(crypto_lines(body)[0].key_salt).decode()
    offer = parse_sdp(peer_offer("RTP/SAVP", BARESIP_LINE))
    # RFC 4568 puts a=crypto under m=, but a peer may write it at the session level too.
    session_level = parse_sdp(
        peer_offer().replace(b"t=0 0", f"t=0 0\r\na=crypto:{BARESIP_LINE}".encode())
    )
    assert session_level.attributes == (("crypto", BARESIP_LINE),)
    shown = " ".join(
        [
            *(repr(offer), repr(parse_sdp(body)), repr(session_level), str(session_level)),
            *(repr(audio), str(audio), repr(ours), repr(ours.config)),
        ]
    )
    assert PEER_KEY not in shown
    assert mine not in shown
    assert "<redacted>" in shown
