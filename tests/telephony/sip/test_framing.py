"""`StreamFramer`: whole messages off a byte stream however it is cut, bounded, and linear in time."""

from __future__ import annotations

import time

import pytest

from callgate.telephony.sip import FramingError, SipLimits, StreamFramer, message_length


def message(body: bytes = b"", *, branch: str = "z9hG4bK1", padding: int = 0) -> bytes:
    head = (
        "OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:5060;branch={branch}\r\n"
        "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:gw@127.0.0.1>\r\n"
        f"Call-ID: {branch}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
        + (f"X-Padding: {'p' * padding}\r\n" if padding else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


STREAM_PARTS = [
    b"\r\n\r\n",
    message(b"abc"),
    b"\r\n",
    message(branch="z9hG4bK2"),
    message(b"x" * 9),
]
STREAM = b"".join(STREAM_PARTS)
EXPECTED = [message(b"abc"), message(branch="z9hG4bK2"), message(b"x" * 9)]


def test_byte_by_byte_gives_the_same_messages_as_one_read() -> None:
    whole = StreamFramer().feed(STREAM)
    assert whole == EXPECTED
    framer = StreamFramer()
    trickled = [m for i in range(len(STREAM)) for m in framer.feed(STREAM[i : i + 1])]
    assert trickled == EXPECTED
    assert framer.buffered == 0


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_any_cut_in_two_reads(cut: int) -> None:
    framer = StreamFramer()
    assert framer.feed(STREAM[:cut]) + framer.feed(STREAM[cut:]) == EXPECTED


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n", 400),  # no Content-Length on a stream
        (message().replace(b"Content-Length: 0", b"l: 1\r\nContent-Length: 2"), 400),
        (message().replace(b"Content-Length: 0", b"Content-Length: -1"), 400),
        (b"X" * 70_000, 513),  # no end of the header section within the limit
        (message().replace(b"Content-Length: 0", b"Content-Length: 70000"), 513),
    ],
)
def test_what_cannot_be_framed_is_refused_with_its_status(data: bytes, status: int) -> None:
    with pytest.raises(FramingError) as caught:
        StreamFramer().feed(data)
    assert caught.value.status == status


def test_nothing_past_the_message_limit_is_held() -> None:
    framer = StreamFramer(SipLimits(max_message_bytes=4096))
    refused = None
    for _ in range(200):
        try:
            framer.feed(b"Y" * 32)
        except FramingError as exc:
            refused = exc
            break
    assert refused is not None
    assert refused.status == 513
    assert framer.buffered <= 4096 + 32


def test_the_old_whole_buffer_framing_agrees() -> None:
    assert message_length(STREAM) == 4 + len(EXPECTED[0])


def _trickle_cpu_s(data: bytes, chunk: int) -> float:
    framer = StreamFramer()
    started = time.process_time()
    count = 0
    for offset in range(0, len(data), chunk):
        count += len(framer.feed(data[offset : offset + chunk]))
    elapsed = time.process_time() - started
    assert count > 0
    return elapsed


def test_trickled_bytes_cost_the_same_per_byte_for_big_and_small_messages() -> None:
    # Issue 12, defect 4: 32-byte reads of 64 KB messages cost 5.4 s of CPU for 6.4 MB, as the
    # buffer was copied and rescanned on every read (quadratic in the message size). Linear
    # framing costs the same per byte whatever the message size: compare 60 KB messages with
    # 600-byte ones, the same 1.2 MB each, both trickled 32 bytes a read.
    big = message(b"b" * 52_000, padding=7_000)
    small = message(b"s" * 300)
    big_stream = big * (1_200_000 // len(big))
    small_stream = small * (len(big_stream) // len(small))
    small_s = min(_trickle_cpu_s(small_stream, 32) for _ in range(2))
    big_s = min(_trickle_cpu_s(big_stream, 32) for _ in range(2))
    assert big_s < 3 * small_s + 0.05, (big_s, small_s)
