"""The RTP session engine, driven by hand: datagrams and 20 ms ticks with a scripted `now`."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from callgate.media.dtmf import detect_digits
from callgate.media.g711 import alaw_decode, ulaw_decode, ulaw_encode
from callgate.media.pcm import FRAME_BYTES, float_to_pcm16
from callgate.telephony.rtp import (
    SILENCE_FRAME,
    AudioIn,
    DtmfIn,
    RtpConfig,
    RtpPacket,
    RtpSession,
    RtpTimeout,
    SourceLatched,
    TelephoneEvent,
    TickOutput,
)

from . import captured

FRAME_S = 0.02
REMOTE = ("203.0.113.7", 40000)
NAT_SOURCE = ("203.0.113.7", 61234)
OTHER_HOST = ("198.51.100.66", 40000)
PEER_SSRC = 0xABCDEF01
OUR_SSRC = 0x11111111


def tone(freq_hz: float = 440.0, index: int = 0, level: float = 0.3) -> bytes:
    t = (np.arange(160) + 160 * index) / 8000
    return float_to_pcm16(level * np.sin(2 * math.pi * freq_hz * t))


def session(remote: Any = REMOTE, **config: Any) -> RtpSession:
    return RtpSession(
        RtpConfig(**config),
        remote,
        0.0,
        ssrc=OUR_SSRC,
        sequence_number=65533,
        timestamp=0xFFFFFE00,
    )


def peer_packet(
    seq: int, *, pt: int = 0, payload: bytes | None = None, ssrc: int = PEER_SSRC
) -> bytes:
    if payload is None:
        payload = ulaw_encode(tone(1000.0, seq))
    return bytes(RtpPacket(pt, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc, payload))


def sent(output: TickOutput) -> RtpPacket:
    assert len(output.datagrams) == 1
    return RtpPacket.parse(output.datagrams[0][0])


# -- sending -----------------------------------------------------------------------------------------


def test_audio_is_encoded_with_continuous_sequence_and_timestamps() -> None:
    rtp = session()
    packets = []
    for k in range(6):
        output = rtp.on_tick(tone(index=k))
        assert output.datagrams[0][1] == REMOTE  # not latched yet: the SDP address
        packets.append(sent(output))
    assert [p.sequence_number for p in packets] == [65533, 65534, 65535, 0, 1, 2]
    assert [p.timestamp for p in packets] == [(0xFFFFFE00 + 160 * k) % 2**32 for k in range(6)]
    assert [p.marker for p in packets] == [True] + [False] * 5
    assert {(p.ssrc, p.payload_type) for p in packets} == {(OUR_SSRC, 0)}
    assert [p.payload for p in packets] == [ulaw_encode(tone(index=k)) for k in range(6)]


def test_pcma_is_sent_when_negotiated() -> None:
    packet = sent(session(payload_type=8).on_tick(None))
    assert (packet.payload_type, packet.payload) == (8, b"\xd5" * 160)


def test_nothing_from_the_app_sends_silence() -> None:
    assert sent(session().on_tick(None)).payload == b"\xff" * 160


def test_without_silence_the_gap_shows_in_timestamps_and_marker() -> None:
    rtp = session(send_silence=False)
    first = sent(rtp.on_tick(tone()))
    assert rtp.on_tick(None).datagrams == []
    assert rtp.on_tick(None).datagrams == []
    resumed = sent(rtp.on_tick(tone()))
    assert resumed.sequence_number == (first.sequence_number + 1) & 0xFFFF
    assert resumed.timestamp == (first.timestamp + 3 * 160) & 0xFFFFFFFF
    assert resumed.marker  # a new talkspurt


def test_wrong_frame_size_is_our_error() -> None:
    with pytest.raises(ValueError, match="320 bytes"):
        session().on_tick(b"\x00" * 100)


def test_no_remote_address_sends_nothing() -> None:
    rtp = session(remote=("0.0.0.0", 40000))
    assert rtp.send_address is None
    assert rtp.on_tick(tone()).datagrams == []
    assert rtp.stats().packets_out == 0


# -- latching ----------------------------------------------------------------------------------------


def test_latches_to_the_port_the_peer_really_uses() -> None:
    rtp = session()
    events = rtp.on_datagram(peer_packet(1), NAT_SOURCE, 0.0)
    assert events == (SourceLatched(NAT_SOURCE, None),)
    assert rtp.send_address == NAT_SOURCE
    assert rtp.on_tick(tone()).datagrams[0][1] == NAT_SOURCE
    assert rtp.on_datagram(peer_packet(2), NAT_SOURCE, 0.02) == ()


def test_other_hosts_are_refused_unless_configured() -> None:
    rtp = session()
    assert rtp.on_datagram(peer_packet(1), OTHER_HOST, 0.0) == ()
    assert rtp.send_address == REMOTE
    assert rtp.stats().rejected_source == 1
    assert rtp.stats().packets_in == 0

    open_rtp = session(latch_any_source=True)
    assert open_rtp.on_datagram(peer_packet(1), OTHER_HOST, 0.0) == (
        SourceLatched(OTHER_HOST, None),
    )
    assert open_rtp.send_address == OTHER_HOST


def test_a_second_source_cannot_take_over_while_the_first_talks() -> None:
    rtp = session(relatch_after_s=1.0)
    rtp.on_datagram(peer_packet(1), REMOTE, 0.0)
    assert rtp.on_datagram(peer_packet(2), NAT_SOURCE, 0.5) == ()
    assert rtp.send_address == REMOTE
    # The latched source fell silent for a second: a NAT rebinding, follow it.
    assert rtp.on_datagram(peer_packet(3), NAT_SOURCE, 1.5) == (SourceLatched(NAT_SOURCE, REMOTE),)
    assert rtp.send_address == NAT_SOURCE


def test_source_spellings_are_normalised() -> None:
    rtp = session(remote=("2001:DB8::0:1", 40000))
    assert rtp.send_address == ("2001:db8::1", 40000)
    assert rtp.on_datagram(peer_packet(1), ("2001:db8::1", 5000, 0, 0), 0.0)
    mapped = session()
    assert mapped.on_datagram(peer_packet(1), ("::ffff:203.0.113.7", 5000, 0, 0), 0.0)


def test_new_sdp_unlatches() -> None:
    rtp = session()
    rtp.on_datagram(peer_packet(1), NAT_SOURCE, 0.0)
    rtp.set_remote(OTHER_HOST, 1.0)
    assert rtp.send_address == OTHER_HOST
    assert rtp.latched_address is None
    assert rtp.on_datagram(peer_packet(2), NAT_SOURCE, 1.1) == ()  # the old host is not signalled
    other_port = (OTHER_HOST[0], 1234)
    assert rtp.on_datagram(peer_packet(3), other_port, 1.2) == (SourceLatched(other_port, None),)


# -- receiving ---------------------------------------------------------------------------------------


def run(rtp: RtpSession, arrivals: dict[int, list[bytes]], ticks: int) -> list[AudioIn | None]:
    """Tick `ticks` times; before tick k, deliver `arrivals[k]` from the signalled address."""
    audio = []
    for k in range(ticks):
        for data in arrivals.get(k, []):
            rtp.on_datagram(data, REMOTE, k * FRAME_S - 0.005)
        audio.append(rtp.on_tick(None).audio)
    return audio


def test_received_audio_is_decoded_after_the_target_depth() -> None:
    rtp = session(jitter_target_frames=3)
    audio = run(rtp, {k: [peer_packet(100 + k)] for k in range(10)}, 10)
    assert audio[:2] == [None, None]
    played = [a for a in audio if a is not None]
    assert [a.pcm16 for a in played] == [
        ulaw_decode(ulaw_encode(tone(1000.0, 100 + k))) for k in range(8)
    ]
    assert not any(a.concealed for a in played)


def test_lost_packet_is_concealed_by_a_fading_repeat_then_silence() -> None:
    rtp = session(jitter_target_frames=2)
    arrivals = {k: [peer_packet(k)] for k in range(12) if k not in (5, 8, 9)}
    audio = run(rtp, arrivals, 12)
    assert audio[0] is None
    # Target depth 2: tick k plays frame k - 1, so frame 5 is missed at tick 6.
    previous, concealed = audio[5], audio[6]
    assert previous is not None
    assert concealed is not None
    assert concealed.concealed
    repeat = np.abs(np.frombuffer(concealed.pcm16, dtype="<i2").astype(np.int32))
    level = np.abs(np.frombuffer(previous.pcm16, dtype="<i2").astype(np.int32)).max()
    assert 0 < repeat.max() <= level // 2 + 1  # the previous frame, at half level and fading
    assert repeat[-10:].max() < level // 20
    tail = audio[9:11]  # frames 8 and 9 both lost: one repeat, then silence
    assert [
        (a is not None and a.concealed, a is not None and a.pcm16 == SILENCE_FRAME) for a in tail
    ] == [
        (True, False),
        (True, True),
    ]
    assert rtp.stats().concealed_frames == 3


def test_captured_30_ms_pcma_plays_at_its_own_pace() -> None:
    rtp = session(payload_type=0, jitter_target_frames=2)  # PCMU negotiated, peer sends PCMA
    audio = []
    for k in range(20):
        now = k * FRAME_S
        for i, data in enumerate(captured.PCMA_30MS):
            if k * FRAME_S - FRAME_S < i * 0.03 <= k * FRAME_S:
                rtp.on_datagram(data, REMOTE, now)
        audio.append(rtp.on_tick(None).audio)
    played = b"".join(a.pcm16 for a in audio if a is not None and not a.concealed)
    expected = b"".join(alaw_decode(RtpPacket.parse(p).payload) for p in captured.PCMA_30MS)
    assert len(played) == 9 * FRAME_BYTES  # 6 packets x 30 ms = 9 frames of 20 ms
    assert played == expected


def test_rtcp_is_counted_and_ignored() -> None:
    rtp = session()
    assert rtp.on_datagram(captured.RTCP_SR + captured.RTCP_SDES, NAT_SOURCE, 0.0) == ()
    stats = rtp.stats()
    assert (stats.rtcp_in, stats.packets_in) == (1, 0)
    assert rtp.latched_address is None
    assert rtp.timeout(30.0) is RtpTimeout.NO_MEDIA  # RTCP is not media


def test_malformed_datagrams_never_raise() -> None:
    rtp = session(latch_any_source=True)
    rng = random.Random(1889)
    seeds = [captured.PCMU_172, captured.ALL_OPTIONS, *captured.SIPP_DTMF_1, captured.RTCP_BYE]
    for i in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(0, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randint(0, len(data))]
        rtp.on_datagram(bytes(data), REMOTE, i * 0.001)
        if i % 10 == 0:
            rtp.on_tick(None)
    assert rtp.stats().malformed_in > 0


def test_ssrc_change_plays_the_new_stream() -> None:
    rtp = session(jitter_target_frames=2)
    arrivals = {k: [peer_packet(k)] for k in range(5)}
    arrivals.update({k: [peer_packet(1000 + k, ssrc=0x5555)] for k in range(5, 10)})
    audio = run(rtp, arrivals, 10)
    last = audio[-1]
    assert last is not None
    assert not last.concealed
    # Tick 9 plays packet 1008: one tick went to rebuffering the new stream.
    assert last.pcm16 == ulaw_decode(ulaw_encode(tone(1000.0, 1008)))
    assert rtp.stats().ssrc_changes == 1


def test_jitter_estimate() -> None:
    steady = session()
    for k in range(50):
        steady.on_datagram(peer_packet(k), REMOTE, k * FRAME_S)
    assert steady.stats().jitter_ms == pytest.approx(0.0, abs=1e-6)
    jittery = session()
    for k in range(500):
        jittery.on_datagram(peer_packet(k), REMOTE, k * FRAME_S + (0.004 if k % 2 else 0.0))
    # Every transit difference is 4 ms: A.8's estimate converges to it.
    assert jittery.stats().jitter_ms == pytest.approx(4.0, rel=0.01)


def test_counters() -> None:
    rtp = session()
    for k in (1, 2, 2, 4, 5):
        rtp.on_datagram(peer_packet(k), REMOTE, k * FRAME_S)
    rtp.on_tick(None)
    stats = rtp.stats()
    assert (stats.packets_in, stats.bytes_in) == (5, 5 * 172)
    assert (stats.packets_out, stats.bytes_out) == (1, 172)
    assert (stats.duplicates, stats.lost) == (1, 0)  # RFC 3550: 5 expected, 5 received (one twice)


# -- DTMF --------------------------------------------------------------------------------------------


def test_received_press_is_reported_at_once_and_heard_as_silence() -> None:
    rtp = session(telephone_event_pt=101, jitter_target_frames=2)
    source = ("198.51.100.9", 6000)
    rtp.set_remote(source, 0.0)
    events = [rtp.on_datagram(p, source, 0.1) for p in captured.SIPP_DTMF_1]
    assert events[0] == (SourceLatched(source, None), DtmfIn("1"))
    assert all(e == () for e in events[1:])
    assert rtp.stats().dtmf_in == 1
    frames = [rtp.on_tick(None).audio for k in range(8)]
    assert [(f.pcm16 == SILENCE_FRAME, f.concealed) for f in frames if f] == [(True, False)] * 8


def test_sent_press_replaces_audio_with_rfc4733_packets() -> None:
    rtp = session(telephone_event_pt=120, dtmf_gap_ms=40)
    packets = [sent(rtp.on_tick(tone(index=0)))]
    assert rtp.send_dtmf("5", 100)
    assert rtp.sending_dtmf
    packets += [sent(rtp.on_tick(tone(index=k))) for k in range(1, 12)]

    audio_then_events = [p.payload_type for p in packets]
    assert audio_then_events == [0] + [120] * 7 + [0] * 4
    assert [p.sequence_number for p in packets] == [(65533 + k) % 65536 for k in range(12)]
    assert {p.ssrc for p in packets} == {OUR_SSRC}
    start_ts = (0xFFFFFE00 + 160) % 2**32
    events = packets[1:8]
    assert {p.timestamp for p in events} == {start_ts}  # the press keeps its first timestamp
    assert [p.marker for p in events] == [True] + [False] * 6
    payloads = [TelephoneEvent.parse(p.payload) for p in events]
    assert [(e.event, e.duration_samples, e.end) for e in payloads] == [
        (5, 160, False),
        (5, 320, False),
        (5, 480, False),
        (5, 640, False),
        (5, 800, True),
        (5, 800, True),
        (5, 800, True),
    ]
    # Audio resumes on the audio clock, with the frame of that tick (the others were suppressed).
    assert packets[8].timestamp == (0xFFFFFE00 + 8 * 160) % 2**32
    assert packets[8].payload == ulaw_encode(tone(index=8))
    assert not packets[8].marker
    assert not rtp.sending_dtmf


def test_queued_presses_are_separated_by_a_gap() -> None:
    rtp = session(dtmf_gap_ms=40)
    rtp.send_dtmf("1", 40)
    rtp.send_dtmf("1", 40)
    packets = [sent(rtp.on_tick(None)) for k in range(12)]
    assert [p.payload_type for p in packets] == [101] * 4 + [0] * 2 + [101] * 4 + [0] * 2
    assert packets[0].timestamp != packets[6].timestamp  # two presses, two events
    assert [p.marker for p in packets if p.payload_type == 101] == [True, False, False, False] * 2


def test_dtmf_queue_is_bounded_and_durations_clamped() -> None:
    rtp = session(max_queued_dtmf=2)
    assert rtp.send_dtmf("1", 5)
    assert rtp.send_dtmf("2", 60_000)
    assert not rtp.send_dtmf("3", 100)
    assert rtp.stats().dtmf_dropped == 1
    packets = [sent(rtp.on_tick(None)) for k in range(70)]
    ends = [TelephoneEvent.parse(p.payload) for p in packets if p.payload_type == 101]
    assert {e.duration_samples for e in ends if e.end} == {320, 8000}  # 40 ms and 1000 ms
    with pytest.raises(ValueError, match="not a DTMF digit"):
        rtp.send_dtmf("x", 100)


def test_in_band_tones_without_telephone_event() -> None:
    rtp = session(telephone_event_pt=None)
    rtp.send_dtmf("8", 100)
    rtp.send_dtmf("#", 100)
    packets = [sent(rtp.on_tick(None)) for k in range(20)]
    assert {p.payload_type for p in packets} == {0}
    assert detect_digits(b"".join(ulaw_decode(p.payload) for p in packets)) == ["8", "#"]


# -- timeouts ----------------------------------------------------------------------------------------


def test_no_media_ever_received() -> None:
    rtp = session(no_media_timeout_s=5.0, media_timeout_s=30.0)
    assert rtp.timeout_deadline() == 5.0
    assert rtp.timeout(4.98) is None
    assert rtp.timeout(5.0) is RtpTimeout.NO_MEDIA
    assert rtp.timed_out(5.0)


def test_media_stopped_by_stepping_time() -> None:
    rtp = session(no_media_timeout_s=5.0, media_timeout_s=10.0)
    now = 0.0
    for k in range(100):  # two seconds of media
        now = k * FRAME_S
        rtp.on_datagram(peer_packet(k), REMOTE, now)
        rtp.on_tick(None)
    assert rtp.timeout_deadline() == pytest.approx(now + 10.0)
    k = 100
    while not rtp.timed_out(now):
        now = k * FRAME_S
        rtp.on_tick(None)
        k += 1
    assert rtp.timeout(now) is RtpTimeout.MEDIA_STOPPED
    assert now == pytest.approx(1.98 + 10.0, abs=FRAME_S)  # the tick at (or just after) 11.98 s


def test_refused_packets_do_not_keep_the_call_alive() -> None:
    rtp = session(no_media_timeout_s=5.0)
    rtp.on_datagram(peer_packet(1), OTHER_HOST, 1.0)
    rtp.on_datagram(b"garbage", REMOTE, 2.0)
    assert rtp.timeout(5.0) is RtpTimeout.NO_MEDIA


def test_timeout_can_be_suspended_for_hold() -> None:
    rtp = session(media_timeout_s=10.0)
    rtp.on_datagram(peer_packet(1), REMOTE, 0.0)
    rtp.set_timeout_enabled(False, 1.0)
    assert rtp.timeout(100.0) is None
    assert rtp.timeout_deadline() is None
    rtp.set_timeout_enabled(True, 100.0)
    assert rtp.timeout(109.0) is None
    assert rtp.timeout(110.0) is RtpTimeout.MEDIA_STOPPED


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="PCMU"):
        RtpConfig(payload_type=9)
    with pytest.raises(ValueError, match="dynamic"):
        RtpConfig(telephone_event_pt=64)


def test_send_tick_then_play_tick_is_on_tick_in_two_passes() -> None:
    # The trunk sends every call's packet first and plays every call's frame after reading: the two
    # halves must produce exactly what on_tick does, DTMF and silence included.
    whole, halves = session(), session()
    whole.send_dtmf("5", 100)
    halves.send_dtmf("5", 100)
    for tick in range(40):
        now = tick * FRAME_S
        for receiver in (whole, halves):
            receiver.on_datagram(peer_packet(tick), REMOTE, now)
        frame = None if tick % 3 == 0 else tone(700.0, tick)
        expected = whole.on_tick(frame)
        datagram = halves.send_tick(frame)
        audio = halves.play_tick()
        assert ([] if datagram is None else [datagram]) == expected.datagrams
        assert audio == expected.audio
    assert whole.stats() == halves.stats()


def test_send_tick_with_nowhere_to_send_returns_none_and_counts_nothing() -> None:
    rtp = session(remote=None)
    assert rtp.send_tick(tone()) is None
    assert rtp.stats().packets_out == 0


def test_batched_decoding_and_encoding_give_what_play_tick_and_send_tick_give() -> None:
    # The trunk takes every call's 20 ms payload, decodes them in one lookup and hands each back
    # (take_payload / play_decoded), and encodes every frame in one lookup (send_tick(frame,
    # encoded)); packets of other sizes, lost ones and DTMF go the ordinary way.
    from callgate.telephony.rtp.codec import BATCH_DECODERS, BATCH_ENCODERS

    plain, batched = session(), session()
    for rtp in (plain, batched):
        rtp.send_dtmf("9", 60)
    odd = ulaw_encode(tone(300.0, 0))[:80]  # a 10 ms packet: not for the batch
    for tick in range(60):
        now = tick * FRAME_S
        if tick % 7 != 3:  # some lost
            payload = odd if tick % 11 == 5 else None
            for rtp in (plain, batched):
                rtp.on_datagram(peer_packet(tick, payload=payload), REMOTE, now)
        frame = tone(500.0, tick) if tick % 4 else None
        expected = plain.on_tick(frame)
        encoded = None if frame is None else BATCH_ENCODERS[0]([frame])
        datagram = batched.send_tick(frame, encoded)
        taken = batched.take_payload()
        if taken is None:
            audio = batched.play_tick()
        else:
            audio = batched.play_decoded(BATCH_DECODERS[taken[0]]([taken[1]]))
        assert ([] if datagram is None else [datagram]) == expected.datagrams, tick
        assert audio == expected.audio, tick
    assert plain.stats() == batched.stats()
