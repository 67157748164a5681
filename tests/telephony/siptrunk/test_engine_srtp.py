"""`media_encryption` in call control, sans-I/O: the offers, the 488, the failed call, the keys
handed to the RTP plane, and no key in any log line, repr or output's text."""

from __future__ import annotations

import base64
import logging

import pytest

from callgate.calls.trunk import TrunkAnswered, TrunkHangup, TrunkIncomingCall
from callgate.telephony.sip import parse_sdp
from callgate.telephony.sip.sdes import CryptoAttribute, CryptoSuite
from callgate.telephony.siptrunk import MediaStart, MediaStop, SipTrunkSettings
from callgate.telephony.siptrunk.core import MEDIA_MISMATCH_CAUSE

from .kit import RTP_PORT, Run, engine, events, inbound_invite, media, reply, requests, responses

CALL = "call-1"
PEER_KEY = "BAlQg36tY5gQTBgY2WjU5PKqSStUWl/Pvu2j4fxK"


def peer_sdp(proto: str = "RTP/AVP", *crypto: str) -> bytes:
    lines = [
        "v=0",
        "o=carrier 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        f"m=audio 40000 {proto} 0 101",
        "a=rtpmap:101 telephone-event/8000",
        *(f"a=crypto:{line}" for line in crypto),
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def our_keys(body: bytes) -> list[str]:
    media = parse_sdp(body).media[0]
    return [
        base64.b64encode(CryptoAttribute.parse(v or "").key_salt).decode()
        for k, v in media.attributes
        if k == "crypto"
    ]


def dial(**settings: object) -> tuple[Run, object]:
    run = Run(engine(**settings))
    run.step(run.engine.dial(CALL, "+15551230000", "4155550100", RTP_PORT, run.now))
    (invite,) = requests(run.outputs, "INVITE")
    return run, invite


def shown(outputs: list[object]) -> str:
    return " ".join(repr(o) for o in outputs) + " ".join(str(o) for o in outputs)


@pytest.mark.parametrize(("mode", "proto"), [("optional", "RTP/AVP"), ("required", "RTP/SAVP")])
def test_an_outbound_srtp_call_hands_both_keys_to_the_rtp_plane(mode, proto, caplog):
    caplog.set_level(logging.DEBUG)
    run, invite = dial(media_encryption=mode)
    offer = parse_sdp(invite.body).media[0]
    assert offer.proto == proto
    mine = our_keys(invite.body)
    assert len(mine) == 2
    out = run.feed(
        reply(invite, 200, sdp=peer_sdp("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{PEER_KEY}"))
    )
    (start,) = media(out)
    assert isinstance(start, MediaStart)
    keys = start.audio.srtp
    assert keys is not None
    assert keys.suite is CryptoSuite.AES_CM_128_HMAC_SHA1_80
    assert base64.b64encode(keys.send_key).decode() == mine[0]
    assert base64.b64encode(keys.receive_key).decode() == PEER_KEY
    assert events(out) == [TrunkAnswered(CALL)]
    for key in (*mine, PEER_KEY):
        assert key not in caplog.text
        assert key not in shown(media(out) + events(out))


def test_required_ends_an_outbound_call_whose_answer_has_no_key_with_bye_and_cause_58(caplog):
    caplog.set_level(logging.INFO)
    run, invite = dial(media_encryption="required")
    out = run.feed(reply(invite, 200, sdp=peer_sdp("RTP/AVP")))
    assert len(requests(out, "ACK")) == 1
    assert len(requests(out, "BYE")) == 1
    assert media(out) == [MediaStop(CALL)]
    assert events(out) == [TrunkHangup(CALL, MEDIA_MISMATCH_CAUSE, by_remote=False)]
    assert (
        MEDIA_MISMATCH_CAUSE == 58
    )  # Bearer capability not presently available: the README's cause
    assert "no usable a=crypto line for our offer (media_encryption = required)" in caplog.text


def test_optional_takes_a_plain_answer_as_plain_rtp():
    run, invite = dial(media_encryption="optional")
    (start,) = media(run.feed(reply(invite, 200, sdp=peer_sdp("RTP/AVP"))))
    assert isinstance(start, MediaStart)
    assert start.audio.srtp is None


def test_none_offers_no_crypto():
    _, invite = dial()
    assert b"a=crypto" not in invite.body
    assert parse_sdp(invite.body).media[0].proto == "RTP/AVP"


def test_required_refuses_a_plain_inbound_offer_with_488_and_makes_no_call():
    run = Run(engine(media_encryption="required"))
    out = run.feed(inbound_invite(sdp=peer_sdp("RTP/AVP")))
    (refusal,) = responses(out)
    assert (refusal.status, refusal.reason) == (488, "Not Acceptable Here")
    assert refusal.get("Warning") == '305 192.0.2.10:5060 "SRTP required (RTP/SAVP with a=crypto)"'
    assert events(out) == []


@pytest.mark.parametrize("mode", ["optional", "required"])
def test_an_inbound_srtp_offer_is_answered_with_our_key_and_starts_srtp(mode, caplog):
    caplog.set_level(logging.DEBUG)
    run = Run(engine(media_encryption=mode))
    offer = peer_sdp("RTP/SAVP", f"5 AES_CM_128_HMAC_SHA1_32 inline:{PEER_KEY}")
    (incoming,) = events(run.feed(inbound_invite(sdp=offer)))
    assert isinstance(incoming, TrunkIncomingCall)
    out = run.step(run.engine.answer(incoming.session_id, RTP_PORT, run.now))
    (ok,) = responses(out, 200)
    answer = parse_sdp(ok.body).media[0]
    assert answer.proto == "RTP/SAVP"
    (mine,) = our_keys(ok.body)
    (start,) = media(out)
    assert isinstance(start, MediaStart)
    assert start.audio.srtp is not None
    assert start.audio.srtp.suite is CryptoSuite.AES_CM_128_HMAC_SHA1_32
    assert base64.b64encode(start.audio.srtp.send_key).decode() == mine
    assert answer.attribute("crypto") == f"5 AES_CM_128_HMAC_SHA1_32 inline:{mine}"
    for key in (mine, PEER_KEY):
        assert key not in caplog.text
        assert key not in shown(media(out) + events(out))


def test_none_answers_an_inbound_crypto_offer_with_plain_rtp():
    run = Run(engine())
    offer = peer_sdp("RTP/AVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{PEER_KEY}")
    (incoming,) = events(run.feed(inbound_invite(sdp=offer)))
    assert isinstance(incoming, TrunkIncomingCall)
    out = run.step(run.engine.answer(incoming.session_id, RTP_PORT, run.now))
    (ok,) = responses(out, 200)
    assert b"a=crypto" not in ok.body
    (start,) = media(out)
    assert isinstance(start, MediaStart)
    assert start.audio.srtp is None


def test_the_settings_check_media_encryption_and_srtp_suites():
    assert SipTrunkSettings(host="pbx.example").media_encryption == "none"
    uri = SipTrunkSettings.from_uri("sip:pbx.example;media_encryption=Required")
    assert uri.media_encryption == "required"
    with pytest.raises(ValueError, match="media_encryption: expected none, optional or required"):
        SipTrunkSettings(host="pbx.example", media_encryption="yes")
    with pytest.raises(ValueError, match="srtp_suites"):
        SipTrunkSettings(host="pbx.example", srtp_suites=("AEAD_AES_256_GCM",))
    with pytest.raises(ValueError, match="srtp_suites"):
        SipTrunkSettings(host="pbx.example", srtp_suites=())
