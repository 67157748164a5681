"""Sans-I/O RTP for the SIP trunk: packets, sequence arithmetic, RFC 4733 DTMF, jitter buffer, session.

Datagrams and `now` in, datagrams and events out: no sockets, no asyncio, no clock reads. The asyncio
transport owns one UDP socket per call and the shared 20 ms ticker, and drives one `RtpSession` per
call (see `session.py` for the contract).
"""

from callgate.media.pcm import SILENCE_FRAME

from .codec import COMFORT_NOISE, PCMA, PCMU
from .concealment import Concealer
from .dtmf import (
    DIGITS,
    END_PACKET_COUNT,
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    dtmf_schedule,
    event_code,
)
from .events import Address, AudioIn, DtmfIn, RtpEvent, RtpTimeout, SourceLatched, TickOutput
from .jitter import JitterBuffer
from .packet import RtpError, RtpPacket, is_rtcp, payload_bounds, rtcp_packet_types
from .seq import SequenceTracker, seq_add, seq_diff, seq_gt, ts_add, ts_diff, ts_gt
from .session import RtpConfig, RtpSession, RtpStats

__all__ = [
    "COMFORT_NOISE",
    "DIGITS",
    "END_PACKET_COUNT",
    "PCMA",
    "PCMU",
    "SILENCE_FRAME",
    "Address",
    "AudioIn",
    "Concealer",
    "DtmfIn",
    "DtmfReceiver",
    "DtmfSender",
    "JitterBuffer",
    "RtpConfig",
    "RtpError",
    "RtpEvent",
    "RtpPacket",
    "RtpSession",
    "RtpStats",
    "RtpTimeout",
    "SequenceTracker",
    "SourceLatched",
    "TelephoneEvent",
    "TickOutput",
    "dtmf_schedule",
    "event_code",
    "is_rtcp",
    "payload_bounds",
    "rtcp_packet_types",
    "seq_add",
    "seq_diff",
    "seq_gt",
    "ts_add",
    "ts_diff",
    "ts_gt",
]
