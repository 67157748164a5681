"""The RTP plane on an SRTP call, time by hand: what leaves is SRTP, only authentic SRTP is heard,
and a re-INVITE replaces only the direction whose key changed."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from callgate.media.g711 import ulaw_encode
from callgate.media.signals import dominant_frequency_hz, sine_pcm16
from callgate.telephony.rtp.srtp import SrtpReceiver, SrtpSender
from callgate.telephony.sip.sdes import CryptoSuite, SrtpKeys
from callgate.telephony.siptrunk import MediaStart

from .test_media import CALL, Far, Plane, far, media, negotiated

__all__ = ["far", "media"]  # the fixtures, shared with test_media

SUITE = CryptoSuite.AES_CM_128_HMAC_SHA1_80
OURS, THEIRS = secrets.token_bytes(30), secrets.token_bytes(30)


def start_srtp(media: Plane, far: Far, keys: SrtpKeys) -> int:
    port = media.plane.open(CALL)
    assert port is not None
    audio = dataclasses.replace(negotiated(far), srtp=keys)
    media.plane.apply(MediaStart(CALL, audio, answered=True))
    return port


def send_srtp(far: Far, to: int, sender: SrtpSender, pcm16: bytes, *, tamper: bool = False) -> None:
    """One 20 ms PCMU packet from the far end, SRTP-protected (and then spoiled if `tamper`)."""
    plain = bytes([0x80, 0]) + far.seq.to_bytes(2, "big") + far.ts.to_bytes(4, "big")
    protected = sender.protect(plain + (0xFA4).to_bytes(4, "big") + ulaw_encode(pcm16))
    assert protected is not None
    if tamper:
        protected = protected[:-1] + bytes([protected[-1] ^ 1])
    far.sock.sendto(protected, ("127.0.0.1", to))
    far.seq += 1
    far.ts += 160


def test_what_we_send_is_srtp_under_our_key(media, far):
    start_srtp(media, far, SrtpKeys(SUITE, OURS, THEIRS))
    frame = sine_pcm16(1000.0, 0.02)
    media.plane.send_audio(CALL, frame)
    media.tick()
    packet = far.receive()
    assert packet[12:172] != ulaw_encode(frame)  # not in clear
    assert len(packet) == 12 + 160 + 10  # the 80-bit tag
    assert SrtpReceiver(SUITE, THEIRS).unprotect(packet) is None  # not under the peer's key
    plain = SrtpReceiver(SUITE, OURS).unprotect(packet)
    assert plain is not None
    assert plain[12:] == ulaw_encode(frame)


def test_only_authentic_srtp_is_heard(media, far):
    port = start_srtp(media, far, SrtpKeys(SUITE, OURS, THEIRS))
    sender = SrtpSender(SUITE, THEIRS)
    tone = sine_pcm16(600.0, 1.0)
    noise = sine_pcm16(1800.0, 1.0)
    for index in range(25):
        frame = slice(index * 320, (index + 1) * 320)
        send_srtp(far, port, sender, tone[frame])
        # A forged packet, a plain one and one under another key, each 1800 Hz: all dropped.
        send_srtp(far, port, sender, noise[frame], tamper=True)
        far.send_audio(port, noise[frame])
        send_srtp(far, port, SrtpSender(SUITE, secrets.token_bytes(30)), noise[frame])
    media.tick(40)
    heard = media.audio()
    assert dominant_frequency_hz(heard[-8000:]) == pytest.approx(600.0, abs=5.0)
    stream = media.plane._streams[CALL]
    assert stream.srtp_in is not None
    assert stream.srtp_in.rejected == 3 * 25


def test_a_re_invite_replaces_only_the_context_whose_key_changed(media, far):
    start_srtp(media, far, SrtpKeys(SUITE, OURS, THEIRS))
    stream = media.plane._streams[CALL]
    sender, receiver = stream.srtp_out, stream.srtp_in
    refreshed = dataclasses.replace(negotiated(far), srtp=SrtpKeys(SUITE, OURS, THEIRS))
    media.plane.apply(MediaStart(CALL, refreshed, answered=True))
    assert (stream.srtp_out, stream.srtp_in) == (sender, receiver)  # the same objects
    rekeyed = dataclasses.replace(refreshed, srtp=SrtpKeys(SUITE, OURS, secrets.token_bytes(30)))
    media.plane.apply(MediaStart(CALL, rekeyed, answered=True))
    assert stream.srtp_out is sender  # our rollover counter goes on
    assert stream.srtp_in is not receiver
    other_suite = SrtpKeys(CryptoSuite.AES_CM_128_HMAC_SHA1_32, OURS, THEIRS)
    media.plane.apply(MediaStart(CALL, dataclasses.replace(refreshed, srtp=other_suite), True))
    assert stream.srtp_out is not sender
    media.plane.apply(MediaStart(CALL, negotiated(far), answered=True))  # back to plain RTP
    assert (stream.srtp_out, stream.srtp_in) == (None, None)
    frame = sine_pcm16(1000.0, 0.02)
    media.plane.send_audio(CALL, frame)
    media.tick()
    assert far.receive()[12:] == ulaw_encode(frame)
