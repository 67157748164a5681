"""RFC 4733 telephone-events: payload format, the sender's schedule, the receiver's de-duplication."""

from __future__ import annotations

import pytest

from callgate.telephony.rtp import (
    DtmfReceiver,
    DtmfSender,
    RtpError,
    RtpPacket,
    TelephoneEvent,
    dtmf_schedule,
    event_code,
)

from . import captured

FRAME_S = 0.02


def test_payload_of_captured_packets() -> None:
    first = TelephoneEvent.parse(RtpPacket.parse(captured.SIPP_DTMF_1[0]).payload)
    assert first == TelephoneEvent(event=1, end=False, volume_dbm0=10, duration_samples=0)
    end = TelephoneEvent.parse(RtpPacket.parse(captured.SIPP_DTMF_1[-1]).payload)
    assert end == TelephoneEvent(event=1, end=True, volume_dbm0=10, duration_samples=2240)
    browser = TelephoneEvent.parse(RtpPacket.parse(captured.BROWSER_DTMF_END).payload)
    assert (browser.digit, browser.end, browser.duration_samples) == ("1", True, 960)


@pytest.mark.parametrize("data", [p[12:] for p in captured.SIPP_DTMF_1])
def test_payload_round_trip(data: bytes) -> None:
    assert bytes(TelephoneEvent.parse(data)) == data


def test_reserved_bit_is_ignored_and_extra_blocks_skipped() -> None:
    event = TelephoneEvent.parse(bytes.fromhex("0bca03200b0a0000"))
    assert event == TelephoneEvent(11, True, 10, 800)
    assert event.digit == "#"


def test_truncated_payload_is_rtp_error() -> None:
    with pytest.raises(RtpError):
        TelephoneEvent.parse(b"\x01\x0a\x00")


def test_non_digit_events_have_no_digit() -> None:
    assert TelephoneEvent(16, False, 10, 0).digit is None  # flash


@pytest.mark.parametrize(("digit", "code"), [("0", 0), ("9", 9), ("*", 10), ("#", 11), ("d", 15)])
def test_event_codes(digit: str, code: int) -> None:
    assert event_code(digit) == code


@pytest.mark.parametrize("digit", ["", "E", "12", " "])
def test_bad_digit(digit: str) -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        event_code(digit)


def test_schedule_for_100_ms() -> None:
    schedule = dtmf_schedule("5", 100)
    assert [(e.duration_samples, e.end) for e in schedule] == [
        (160, False),
        (320, False),
        (480, False),
        (640, False),
        (800, True),
        (800, True),
        (800, True),
    ]
    assert {(e.event, e.volume_dbm0) for e in schedule} == {(5, 10)}


def test_schedule_rounds_up_to_whole_frames() -> None:
    assert dtmf_schedule("1", 50)[-1].duration_samples == 480
    assert len(dtmf_schedule("1", 1)) == 3  # one frame: the end packet straight away
    assert dtmf_schedule("1", 1000)[-1].duration_samples == 8000


def test_schedule_refuses_durations_needing_segmentation() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        dtmf_schedule("1", 8200)


def test_sender_packets() -> None:
    sender = DtmfSender("#", 60, payload_type=101, ssrc=0xCAFE, timestamp=0xFFFFFF60)
    packets = []
    seq = 65534
    while not sender.done:
        packets.append(RtpPacket.parse(sender.next_packet(seq)))
        seq = (seq + 1) & 0xFFFF
    assert [p.sequence_number for p in packets] == [65534, 65535, 0, 1, 2]
    assert [p.marker for p in packets] == [True, False, False, False, False]
    assert {(p.ssrc, p.timestamp, p.payload_type) for p in packets} == {(0xCAFE, 0xFFFFFF60, 101)}
    events = [TelephoneEvent.parse(p.payload) for p in packets]
    assert [(e.duration_samples, e.end) for e in events] == [
        (160, False),
        (320, False),
        (480, True),
        (480, True),
        (480, True),
    ]
    with pytest.raises(IndexError):
        sender.next_packet(3)


# -- receiver ---------------------------------------------------------------------------------------


def feed(receiver: DtmfReceiver, packets: list[bytes], start_s: float = 0.0) -> list[str | None]:
    """Each packet one frame after the previous; the digit reported for each."""
    results = []
    for i, data in enumerate(packets):
        packet = RtpPacket.parse(data)
        results.append(
            receiver.on_packet(packet.ssrc, packet.timestamp, packet.payload, start_s + i * FRAME_S)
        )
    return results


def press(digit: str, timestamp: int, duration_ms: int = 100, ssrc: int = 7) -> list[bytes]:
    sender = DtmfSender(digit, duration_ms, payload_type=101, ssrc=ssrc, timestamp=timestamp)
    return [sender.next_packet(i) for i in range(sender.remaining_packets)]


def test_captured_press_reported_once_at_its_start() -> None:
    receiver = DtmfReceiver()
    assert feed(receiver, list(captured.SIPP_DTMF_1)) == ["1"] + [None] * 9
    assert receiver.events == 1
    assert not receiver.active(1.0)


def test_lost_start_packets_report_at_the_first_that_arrives() -> None:
    receiver = DtmfReceiver()
    packets = press("7", 1000)
    assert not RtpPacket.parse(packets[2]).marker
    assert feed(receiver, packets[2:]) == ["7", None, None, None, None]


def test_only_an_end_packet_arriving_still_reports_the_press() -> None:
    receiver = DtmfReceiver()
    assert feed(receiver, press("4", 1000)[-1:]) == ["4"]
    assert not receiver.active(0.0)


def test_lost_end_packets_then_same_digit_again() -> None:
    receiver = DtmfReceiver()
    first = press("3", 1000)[:4]  # the end packets never arrive
    second = press("3", 3000)
    assert feed(receiver, first + second) == ["3", None, None, None, "3"] + [None] * 6


def test_two_presses_of_the_same_digit_in_a_row() -> None:
    receiver = DtmfReceiver()
    assert feed(receiver, press("9", 1000) + press("9", 2000)).count("9") == 2


def test_duplicates_and_retransmitted_end_packets_are_ignored() -> None:
    receiver = DtmfReceiver()
    packets = press("2", 1000)
    doubled = [p for p in packets for _ in range(2)]
    assert feed(receiver, doubled) == ["2"] + [None] * (len(doubled) - 1)
    assert feed(receiver, packets[-1:] * 3, start_s=5.0) == [None] * 3  # much later, still a repeat
    assert receiver.duplicates == len(doubled) - 1 + 3


def test_reordered_packets() -> None:
    receiver = DtmfReceiver()
    packets = press("6", 1000)
    reordered = [packets[1], packets[0], packets[3], packets[2], *packets[4:]]
    assert feed(receiver, reordered) == ["6"] + [None] * 6


def test_late_packet_of_the_previous_press_is_not_a_new_press() -> None:
    receiver = DtmfReceiver()
    first = press("1", 1000)
    second = press("2", 2000)
    assert feed(receiver, [*first[:5], *second[:2], first[5]]) == [
        "1",
        None,
        None,
        None,
        None,
        "2",
        None,
        None,
    ]


def test_same_timestamp_other_ssrc_is_another_press() -> None:
    receiver = DtmfReceiver()
    assert feed(receiver, press("1", 1000, ssrc=1)[:1] + press("1", 1000, ssrc=2)[:1]) == ["1", "1"]


def test_press_ends_on_end_bit_new_timestamp_or_timeout() -> None:
    receiver = DtmfReceiver(event_timeout_s=0.5)
    packets = press("8", 1000, duration_ms=200)
    feed(receiver, packets[:3])  # last packet at 0.04 s
    assert receiver.active(0.1)
    assert receiver.active(0.53)
    assert not receiver.active(0.54)  # no packet for 0.5 s: the end packets were lost

    feed(receiver, press("8", 5000, duration_ms=200)[:2], start_s=1.0)
    assert receiver.active(1.05)
    feed(receiver, press("8", 9000)[:1], start_s=1.06)
    feed(receiver, press("8", 9000)[-1:], start_s=1.08)
    assert not receiver.active(1.09)  # ended by its end packet


def test_malformed_event_payload() -> None:
    with pytest.raises(RtpError):
        DtmfReceiver().on_packet(1, 2, b"\x01", 0.0)
