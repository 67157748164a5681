"""Our INVITE without SDP (`delayed_offer`, RFC 3261 §13.2.1), sans-I/O: the callee offers in its
2xx and our ACK answers, or offers in a reliable 18x and our PRACK answers."""

from __future__ import annotations

from callgate.calls.trunk import TrunkAnswered, TrunkHangup, TrunkRinging
from callgate.telephony.sip import SipRequest, parse_sdp
from callgate.telephony.siptrunk import MediaStart

from .kit import RTP_PORT, Run, engine, events, media, peer_sdp, reply, requests

CALL = "call-1"
RELIABLE = (("Require", "100rel"),)


def dialled(**settings: object) -> tuple[Run, SipRequest]:
    run = Run(engine(delayed_offer=True, **settings))
    (invite,) = requests(
        run.step(run.engine.dial(CALL, "+15551230000", None, RTP_PORT, run.now)), "INVITE"
    )
    return run, invite


def test_the_invite_has_no_sdp_and_the_ack_answers_the_2xx_offer():
    run, invite = dialled()
    assert invite.body == b""
    assert invite.get("Content-Type") is None
    out = run.feed(reply(invite, 200, sdp=peer_sdp(port=41000, codecs="8")))
    (ack,) = requests(out, "ACK")
    assert ack.get("Content-Type") == "application/sdp"
    answer = parse_sdp(ack.body).media[0]
    assert answer.port == RTP_PORT
    assert answer.payload_types == (8, 101)  # the codec it offered, and telephone-event
    assert answer.direction is not None
    assert answer.direction.value == "sendrecv"
    (start,) = media(out)
    assert isinstance(start, MediaStart)
    assert (start.audio.remote_port, start.audio.codec.name) == (41000, "PCMA")
    assert start.answered
    assert events(out) == [TrunkAnswered(CALL)]


def test_a_2xx_without_an_offer_or_with_one_we_cannot_take_is_acked_and_ended():
    for sdp in (None, peer_sdp(codecs="18")):
        run, invite = dialled()
        out = run.feed(reply(invite, 200, sdp=sdp))
        assert len(requests(out, "ACK")) == 1  # every 2xx is ACKed (§13.2.2.4)
        assert len(requests(out, "BYE")) == 1
        assert events(out) == [TrunkHangup(CALL, 58, by_remote=False)]


def test_a_reliable_183_offers_and_our_prack_answers_with_early_media():
    run, invite = dialled()
    early = reply(invite, 183, sdp=peer_sdp(port=41002), headers=(*RELIABLE, ("RSeq", "7")))
    out = run.feed(early)
    (prack,) = requests(out, "PRACK")
    assert parse_sdp(prack.body).media[0].port == RTP_PORT
    (start,) = media(out)
    assert start.audio.remote_port == 41002
    assert not start.answered
    assert events(out) == [TrunkRinging(CALL), TrunkRinging(CALL, early_media=True)]
    # The 2xx may repeat the SDP: the offer is answered already, so the ACK carries nothing.
    out = run.feed(reply(invite, 200, sdp=peer_sdp(port=41002)))
    (ack,) = requests(out, "ACK")
    assert ack.body == b""
    (start,) = media(out)
    assert start.answered
    assert events(out) == [TrunkAnswered(CALL)]


def test_an_unreliable_183_offer_brings_no_early_media():
    run, invite = dialled()
    out = run.feed(reply(invite, 183, sdp=peer_sdp(port=41004)))
    assert media(out) == []
    assert events(out) == [TrunkRinging(CALL)]
    out = run.feed(reply(invite, 200, sdp=peer_sdp(port=41004)))
    (ack,) = requests(out, "ACK")
    assert parse_sdp(ack.body).media[0].port == RTP_PORT
    assert events(out) == [TrunkAnswered(CALL)]


def test_without_the_setting_the_invite_offers_as_before():
    run = Run(engine())
    out = run.step(run.engine.dial(CALL, "+15551230000", None, RTP_PORT, run.now))
    (invite,) = requests(out, "INVITE")
    assert parse_sdp(invite.body).media[0].port == RTP_PORT
    (ack,) = requests(run.feed(reply(invite, 200, sdp=peer_sdp())), "ACK")
    assert ack.body == b""
