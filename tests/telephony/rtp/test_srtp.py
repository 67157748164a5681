"""SRTP/SRTCP through libsrtp: round trips, and every packet that must be dropped is dropped."""

from __future__ import annotations

import secrets

import pytest

from callgate.media.pcm import SILENCE_FRAME
from callgate.telephony.rtp import RtpConfig, RtpSession
from callgate.telephony.rtp.srtp import SRTP_SUITES, SrtpReceiver, SrtpSender

PEER = ("192.0.2.1", 40000)
KEY = bytes(range(30))
# RTCP receiver report with no report blocks (RFC 3550 §6.4.2): V=2, PT=201, length 1, SSRC.
RTCP_RR = bytes([0x80, 201, 0, 1]) + (0x1234).to_bytes(4, "big")
# RFC 3711 §5: the tag is 80 or 32 bits; SRTP adds nothing else without an MKI.
TAG_BYTES = {"AES_CM_128_HMAC_SHA1_80": 10, "AES_CM_128_HMAC_SHA1_32": 4}


def rtp_packets(count: int) -> list[bytes]:
    """Real packets from our own RTP session (PCMU silence, sequence numbers in a row)."""
    session = RtpSession(RtpConfig(), PEER, 0.0)
    out = []
    for _ in range(count):
        datagram = session.send_tick(SILENCE_FRAME)
        assert datagram is not None
        out.append(datagram[0])
    return out


@pytest.mark.parametrize("suite", sorted(SRTP_SUITES))
def test_protected_packets_unprotect_to_the_same_bytes_and_are_encrypted(suite):
    sender, receiver = SrtpSender(suite, KEY), SrtpReceiver(suite, KEY)
    for packet in rtp_packets(5):
        protected = sender.protect(packet)
        assert protected is not None
        assert len(protected) == len(packet) + TAG_BYTES[suite]
        assert protected[:12] == packet[:12]  # the header stays readable (RFC 3711 §3.1)
        assert protected[12 : len(packet)] != packet[12:]  # the payload does not
        assert receiver.unprotect(protected) == packet
    assert receiver.rejected == 0


@pytest.mark.parametrize("suite", sorted(SRTP_SUITES))
def test_forged_replayed_wrongly_keyed_and_plain_packets_are_dropped_and_counted(suite):
    sender, receiver = SrtpSender(suite, KEY), SrtpReceiver(suite, KEY)
    first, second = (sender.protect(p) for p in rtp_packets(2))
    assert first is not None
    assert second is not None
    assert receiver.unprotect(first) is not None
    assert receiver.unprotect(first) is None  # replayed
    flipped = bytearray(second)
    flipped[20] ^= 0x01
    assert receiver.unprotect(bytes(flipped)) is None  # one bit changed in the payload
    stranger = SrtpSender(suite, secrets.token_bytes(30)).protect(rtp_packets(1)[0])
    assert stranger is not None
    assert receiver.unprotect(stranger) is None  # another key
    assert receiver.unprotect(rtp_packets(1)[0]) is None  # plain RTP
    assert receiver.unprotect(b"\x80") is None  # garbage
    assert receiver.rejected == 5
    assert receiver.unprotect(second) is not None  # the genuine one still passes


def test_srtcp_round_trips_and_rejects_a_forgery():
    sender = SrtpSender("AES_CM_128_HMAC_SHA1_80", KEY)
    receiver = SrtpReceiver("AES_CM_128_HMAC_SHA1_80", KEY)
    protected = sender.protect_rtcp(RTCP_RR)
    assert protected is not None
    assert len(protected) == len(RTCP_RR) + 4 + 10  # E flag + SRTCP index, then the tag
    assert receiver.unprotect_rtcp(protected) == RTCP_RR
    forged = protected[:-1] + bytes([protected[-1] ^ 0xFF])
    assert receiver.unprotect_rtcp(forged) is None
    assert receiver.rejected == 1


def test_a_packet_libsrtp_cannot_protect_is_not_sent():
    sender = SrtpSender("AES_CM_128_HMAC_SHA1_80", KEY)
    assert sender.protect(b"\x80\x00") is None  # shorter than an RTP header
    assert sender.protect(rtp_packets(1)[0][:12] + bytes(1500)) is None  # over libsrtp's buffer
    assert sender.failed == 2


def test_bad_suites_and_keys_are_refused_without_showing_the_key():
    with pytest.raises(ValueError, match="not supported"):
        SrtpSender("AEAD_AES_256_GCM", KEY)
    with pytest.raises(ValueError, match="refused") as refused:
        SrtpReceiver("AES_CM_128_HMAC_SHA1_80", KEY[:10])
    assert repr(KEY[:10]) not in str(refused.value)
    assert KEY[:10].hex() not in str(refused.value)


def test_reprs_hold_no_key():
    shown = repr(SrtpSender("AES_CM_128_HMAC_SHA1_32", KEY)) + repr(
        SrtpReceiver("AES_CM_128_HMAC_SHA1_32", KEY)
    )
    assert "AES_CM_128_HMAC_SHA1_32" in shown
    assert repr(KEY) not in shown
    assert KEY.hex() not in shown
