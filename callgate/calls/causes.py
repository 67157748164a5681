"""Q.850 hangup causes (the spec's table), dispositions, and who hung up.

The spec publishes a fixed table of causes with its own texts; CDRs carry exactly those codes and texts.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Disposition(StrEnum):
    ANSWERED = "ANSWERED"
    NO_ANSWER = "NO ANSWER"
    BUSY = "BUSY"
    FAILED = "FAILED"
    CANCEL = "CANCEL"


class HangupBy(StrEnum):
    CALLER = "CALLER"
    CALLEE = "CALLEE"


class Cause(IntEnum):
    UNKNOWN = 0
    UNALLOCATED_NUMBER = 1
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    CALL_REJECTED = 21
    DESTINATION_OUT_OF_ORDER = 27
    INVALID_NUMBER_FORMAT = 28
    FACILITY_REJECTED = 29
    NO_CIRCUIT_AVAILABLE = 34
    NETWORK_OUT_OF_ORDER = 38
    CHANNEL_UNAVAILABLE = 44
    BEARER_NOT_IMPLEMENTED = 58
    RECOVERY_ON_TIMER_EXPIRY = 102
    INTERWORKING = 127


CAUSE_TEXT: dict[int, str] = {
    0: "Call terminated - unknown reason",
    1: "Invalid destination number",
    16: "Call completed successfully",
    17: "Destination busy",
    18: "No response from destination",
    19: "Destination not answering",
    21: "Call declined by user",
    27: "Service unavailable",
    28: "Invalid number format",
    29: "Service not supported",
    34: "Network congestion",
    38: "Network failure",
    44: "Resource unavailable",
    58: "Service not implemented",
    102: "Connection timeout",
    127: "System error",
}


def normalize_cause(code: int) -> Cause:
    """Map any Q.850 code onto the spec's table; codes the table lacks become their nearest class."""
    if code in CAUSE_TEXT:
        return Cause(code)
    if code in (
        20,
        22,
        26,
        31,
    ):  # subscriber absent, number changed, non-selected user, normal unspecified
        return Cause.NORMAL_CLEARING if code == 31 else Cause.NO_USER_RESPONSE
    if 32 <= code <= 47:  # resource unavailable class
        return Cause.CHANNEL_UNAVAILABLE
    if 48 <= code <= 63:  # service or option not available class
        return Cause.FACILITY_REJECTED
    if 64 <= code <= 79:  # service or option not implemented class
        return Cause.BEARER_NOT_IMPLEMENTED
    if 80 <= code <= 95:  # invalid message class
        return Cause.INVALID_NUMBER_FORMAT
    if 96 <= code <= 111:  # protocol error class
        return Cause.RECOVERY_ON_TIMER_EXPIRY
    return Cause.INTERWORKING if code > 111 else Cause.UNKNOWN


def cause_text(code: int) -> str:
    return CAUSE_TEXT.get(code, CAUSE_TEXT[0])


def disposition_for(answered: bool, cause: Cause, cancelled: bool) -> Disposition:
    """The CDR disposition of an ended call.

    Declined calls (21) count as BUSY, as Twilio and most PBXs report them: the callee refused the call,
    the network did not fail. The cause code still tells the two apart.
    """
    if answered:
        return Disposition.ANSWERED
    if cancelled:
        return Disposition.CANCEL
    if cause in (Cause.USER_BUSY, Cause.CALL_REJECTED):
        return Disposition.BUSY
    if cause in (Cause.NO_ANSWER, Cause.NO_USER_RESPONSE):
        return Disposition.NO_ANSWER
    return Disposition.FAILED
