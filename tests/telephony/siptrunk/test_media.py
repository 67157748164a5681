"""The RTP plane with time by hand: real loopback sockets, a `ManualClock` ticking 20 ms at a time.

A plain UDP socket plays the far end; every step is one tick, so what is sent, heard and reported
is asserted exactly, without sleeping.
"""

from __future__ import annotations

import dataclasses
import random
import socket
import struct
from collections.abc import Iterator

import pytest

from callgate.calls.trunk import TrunkAudio, TrunkDtmf, TrunkEvent
from callgate.clock import ManualClock, MediaTicker
from callgate.media.g711 import ulaw_encode
from callgate.media.signals import dominant_frequency_hz, sine_pcm16
from callgate.telephony.sip import Codec, Direction, NegotiatedAudio
from callgate.telephony.siptrunk import MEDIA_STOPPED_CAUSE, NO_MEDIA_CAUSE, MediaStart
from callgate.telephony.siptrunk.media import MediaPlane, PortRange

from .kit import engine

TICK_S = 0.020
CALL = "call-1"


def test_port_range_hands_out_even_ports_round_robin_skipping_those_in_use():
    ports = PortRange(20001, 20010, rng=random.Random(1))
    assert (ports.low, ports.size) == (20002, 5)
    first = list(ports.candidates(5))
    assert sorted(first) == [20002, 20004, 20006, 20008, 20010]
    ports.in_use.update({20004, 20008})
    assert sorted(ports.candidates(10)) == [20002, 20006, 20010]
    assert len(list(ports.candidates(2))) == 2


class Far:
    """The far end: a UDP socket on loopback that sends and collects RTP."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(1.0)
        self.port = self.sock.getsockname()[1]
        self.seq = 100
        self.ts = 8000

    def send_audio(self, to: int, pcm16: bytes, *, marker: bool = False) -> None:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0), self.seq, self.ts, 0xFA4)
        self.sock.sendto(header + ulaw_encode(pcm16), ("127.0.0.1", to))
        self.seq += 1
        self.ts += 160

    def send_event(self, to: int, code: int, *, end: bool = False, duration: int = 160) -> None:
        header = struct.pack("!BBHII", 0x80, 101, self.seq, self.ts, 0xFA4)
        payload = struct.pack("!BBH", code, 0x80 | 10 if end else 10, duration)
        self.sock.sendto(header + payload, ("127.0.0.1", to))
        self.seq += 1

    def receive(self) -> bytes:
        data, _ = self.sock.recvfrom(2048)
        return data


@pytest.fixture
def far() -> Iterator[Far]:
    peer = Far()
    yield peer
    peer.sock.close()


class Plane:
    def __init__(self, **settings: object) -> None:
        self.clock = ManualClock()
        self.ticker = MediaTicker(self.clock)
        self.events: list[TrunkEvent] = []
        self.dead: list[tuple[str, int]] = []
        values: dict[str, object] = {
            "rtp_port_min": 32100,
            "rtp_port_max": 32198,
            "rtp_bind_host": "127.0.0.1",
        }
        values.update(settings)
        self.plane = MediaPlane(
            engine(**values).settings,
            self.clock,
            self.ticker,
            self.events.append,
            lambda session_id, cause: self.dead.append((session_id, cause)),
        )
        self.plane.start()

    def tick(self, count: int = 1) -> None:
        self.clock.advance(count * TICK_S)

    def audio(self) -> bytes:
        return b"".join(e.frame for e in self.events if isinstance(e, TrunkAudio))


def negotiated(far: Far, *, send: bool = True, on_hold: bool = False) -> NegotiatedAudio:
    direction = Direction.SENDRECV if send else Direction.RECVONLY
    return NegotiatedAudio(
        remote_address="127.0.0.1",
        remote_port=far.port,
        codec=Codec("PCMU", 0),
        telephone_event_pt=101,
        remote_ptime_ms=20,
        direction=direction,
        remote_direction=Direction.SENDRECV,
        on_hold=on_hold,
    )


@pytest.fixture
def media() -> Iterator[Plane]:
    plane = Plane()
    yield plane
    plane.plane.close()


def test_each_call_gets_an_even_port_of_the_range_and_gives_it_back(media):
    port = media.plane.open(CALL)
    assert port is not None
    assert port % 2 == 0
    assert 32100 <= port <= 32198
    assert media.plane.open(CALL) == port  # the same call, the same socket
    media.plane.stop(CALL)
    assert len(media.plane) == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", port))  # released


def test_the_domains_frame_goes_out_on_the_next_tick(media, far):
    media.plane.open(CALL)
    media.plane.apply(MediaStart(CALL, negotiated(far), answered=True))
    frame = sine_pcm16(1000.0, 0.02)
    media.plane.send_audio(CALL, frame)
    media.tick()
    packet = far.receive()
    assert packet[1] == 0x80  # PCMU, marker on the first packet
    assert packet[12:] == ulaw_encode(frame)
    media.tick()
    assert far.receive()[1] == 0  # nothing from the domain: encoded silence keeps flowing


def test_ticks_skipped_when_the_process_fell_behind_move_the_rtp_clock_on(media, far):
    media.plane.open(CALL)
    media.plane.apply(MediaStart(CALL, negotiated(far), answered=True))
    media.tick()
    first = struct.unpack("!HI", far.receive()[2:8])
    # The loop stalls 200 ms: the ticker skips ahead instead of bursting ten frames.
    media.clock.set_time(media.clock.monotonic() + 0.2)
    media.tick()
    assert media.ticker.skipped_frames == 9
    seq, ts = struct.unpack("!HI", far.receive()[2:8])
    assert seq == first[0] + 1  # nothing was sent in the gap
    assert (ts - first[1]) & 0xFFFFFFFF == 10 * 160  # but 200 ms of sampling time went by


def test_the_far_ends_audio_comes_up_one_frame_per_tick(media, far):
    port = media.plane.open(CALL)
    media.plane.apply(MediaStart(CALL, negotiated(far), answered=True))
    tone = sine_pcm16(600.0, 0.5)
    for index in range(25):
        far.send_audio(port, tone[index * 320 : (index + 1) * 320], marker=index == 0)
    media.tick(30)
    heard = media.audio()
    assert len(heard) >= 20 * 320
    assert dominant_frequency_hz(heard[-8000:]) == pytest.approx(600.0, abs=5.0)


def test_a_press_is_reported_at_its_first_packet_once(media, far):
    port = media.plane.open(CALL)
    media.plane.apply(MediaStart(CALL, negotiated(far), answered=True))
    far.send_event(port, 5)
    media.tick()
    assert [e for e in media.events if isinstance(e, TrunkDtmf)] == [TrunkDtmf(CALL, "5")]
    for _ in range(3):
        far.send_event(port, 5, end=True, duration=800)
    media.tick()
    assert len([e for e in media.events if isinstance(e, TrunkDtmf)]) == 1


def test_send_dtmf_replaces_audio_with_rfc4733_packets(media, far):
    media.plane.open(CALL)
    media.plane.apply(MediaStart(CALL, negotiated(far), answered=True))
    media.plane.send_dtmf(CALL, "#", 100)
    media.tick(10)
    packets = [far.receive() for _ in range(10)]
    events = [p for p in packets if p[1] & 0x7F == 101]
    assert events[0][1] & 0x80  # marker on the first
    assert events[0][12] == 11  # "#"
    assert sum(1 for p in events if p[13] & 0x80) == 3  # three end packets
    media.plane.send_dtmf(CALL, "x", 100)  # refused quietly: commands never raise


def test_a_held_call_neither_sends_nor_times_out(far):
    media = Plane(rtp_timeout_s=1.0)
    try:
        media.plane.open(CALL)
        media.plane.apply(MediaStart(CALL, negotiated(far, send=False, on_hold=True), True))
        media.tick(100)
        far.sock.settimeout(0.05)
        with pytest.raises(TimeoutError):
            far.receive()
        assert media.dead == []
    finally:
        media.plane.close()


def test_media_that_never_came_or_stopped_is_reported_dead_with_its_cause(far):
    media = Plane(rtp_timeout_s=1.0)
    try:
        silent = "silent"
        media.plane.open(silent)
        media.plane.apply(MediaStart(silent, negotiated(far), answered=True))
        port = media.plane.open(CALL)
        media.plane.apply(MediaStart(CALL, negotiated(far), answered=True))
        far.send_audio(port, bytes(320))
        media.tick(110)  # the check runs once a second
        assert sorted(media.dead) == sorted([(silent, NO_MEDIA_CAUSE), (CALL, MEDIA_STOPPED_CAUSE)])
        media.tick(100)
        assert len(media.dead) == 2  # reported once
    finally:
        media.plane.close()


def test_early_media_has_no_timeout_until_the_answer(far):
    media = Plane(rtp_timeout_s=1.0)
    try:
        media.plane.open(CALL)
        media.plane.apply(MediaStart(CALL, negotiated(far), answered=False))
        media.tick(150)
        assert media.dead == []
    finally:
        media.plane.close()


def held_by_us(far: Far) -> NegotiatedAudio:
    """What our sendonly offer and the peer's recvonly answer settle."""
    return dataclasses.replace(
        negotiated(far), direction=Direction.SENDONLY, remote_direction=Direction.RECVONLY
    )


def test_our_hold_answered_recvonly_does_not_time_out(far):
    media = Plane(rtp_timeout_s=1.0)
    try:
        media.plane.open(CALL)
        media.plane.apply(MediaStart(CALL, held_by_us(far), answered=True))
        media.tick(150)  # the peer sends nothing while we hold it
        assert media.dead == []
    finally:
        media.plane.close()


def test_music_on_hold_replaces_the_domains_frames_until_it_stops(tmp_path, far):
    music = sine_pcm16(300.0, 0.1)  # five frames, looped
    (tmp_path / "moh.pcm").write_bytes(music)
    media = Plane(hold_music=str(tmp_path / "moh.pcm"))
    try:
        media.plane.open(CALL)
        media.plane.apply(MediaStart(CALL, held_by_us(far), answered=True))
        media.plane.music_on_hold(CALL, True)
        payloads = []
        for _ in range(7):
            media.plane.send_audio(CALL, sine_pcm16(1000.0, 0.02))  # ignored meanwhile
            media.tick()
            payloads.append(far.receive()[12:])
        frames = [ulaw_encode(music[i : i + 320]) for i in range(0, len(music), 320)]
        assert payloads == frames + frames[:2]  # from its start, looped
        media.plane.music_on_hold(CALL, False)
        frame = sine_pcm16(1000.0, 0.02)
        media.plane.send_audio(CALL, frame)
        media.tick()
        assert far.receive()[12:] == ulaw_encode(frame)
    finally:
        media.plane.close()


def test_music_on_hold_without_a_file_is_comfort_silence(far):
    media = Plane()
    try:
        media.plane.open(CALL)
        media.plane.apply(MediaStart(CALL, held_by_us(far), answered=True))
        media.plane.music_on_hold(CALL, True)
        media.plane.send_audio(CALL, sine_pcm16(1000.0, 0.02))
        media.tick()
        assert far.receive()[12:] == ulaw_encode(bytes(320))  # RTP keeps flowing, silent
    finally:
        media.plane.close()
