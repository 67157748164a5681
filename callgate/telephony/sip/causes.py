"""SIP status codes and Q.850 cause values, both ways (RFC 3398; RFC 3326 / RFC 6432 Reason).

Outbound calls that fail end with a SIP final response; the CDR wants a Q.850 cause. A Reason
header `Q.850;cause=N` in the response says it outright and wins (RFC 3326, RFC 6432); without
one, RFC 3398 §8.2.6.1's table maps the status. Inbound calls the app rejects with a Q.850 cause
get the SIP status of RFC 3398 §7.2.4.1's table. Raw integers only: `calls.causes.normalize_cause`
folds them onto the spec's published table.
"""

from __future__ import annotations

from .grammar import quote
from .message import SipResponse

__all__ = [
    "Q850_TO_SIP",
    "SIP_TO_Q850",
    "cause_for_response",
    "cause_for_status",
    "q850_reason",
    "status_for_cause",
]

# RFC 3398 §8.2.6.1, "Response received" -> "Cause value in the REL", line by line.
# 487 has "no mapping" there (it answers our own CANCEL); 488 and 606 map "by Warning header"
# (see `cause_for_status`). The RFC's second "504 Version Not Supported" row is 505.
SIP_TO_Q850: dict[int, int] = {
    400: 41,  # Temporary failure
    401: 21,  # Call rejected (*)
    402: 21,  # Call rejected
    403: 21,  # Call rejected
    404: 1,  # Unallocated number
    405: 63,  # Service or option unavailable
    406: 79,  # Service/option not implemented (+)
    407: 21,  # Call rejected (*)
    408: 102,  # Recovery on timer expiry
    410: 22,  # Number changed (w/o diagnostic)
    413: 127,  # Interworking (+)
    414: 127,  # Interworking (+)
    415: 79,  # Service/option not implemented (+)
    416: 127,  # Interworking (+)
    420: 127,  # Interworking (+)
    421: 127,  # Interworking (+)
    423: 127,  # Interworking (+)
    480: 18,  # No user responding
    481: 41,  # Temporary Failure
    482: 25,  # Exchange - routing error
    483: 25,  # Exchange - routing error
    484: 28,  # Invalid Number Format (+)
    485: 1,  # Unallocated number
    486: 17,  # User busy
    500: 41,  # Temporary failure
    501: 79,  # Not implemented, unspecified
    502: 38,  # Network out of order
    503: 41,  # Temporary failure
    504: 102,  # Recovery on timer expiry
    505: 127,  # Interworking (+)
    513: 127,  # Interworking (+)
    600: 17,  # User busy
    603: 21,  # Call rejected
    604: 1,  # Unallocated number
}

# RFC 3398 §7.2.4.1, "ISUP Cause value" -> "SIP response". Cause 16 (normal clearing) has no
# response there (it becomes BYE or CANCEL); 22 with a diagnostic would be 301, never for us.
# The RFC prints "510" for cause 29, an evident typo for 501 Not Implemented.
Q850_TO_SIP: dict[int, int] = {
    1: 404,  # unallocated number
    2: 404,  # no route to network
    3: 404,  # no route to destination
    17: 486,  # user busy
    18: 408,  # no user responding
    19: 480,  # no answer from the user
    20: 480,  # subscriber absent
    21: 403,  # call rejected (+: 603 when the user rejected it)
    22: 410,  # number changed (w/o diagnostic)
    23: 410,  # redirection to new destination
    26: 404,  # non-selected user clearing
    27: 502,  # destination out of order
    28: 484,  # address incomplete
    29: 501,  # facility rejected
    31: 480,  # normal, unspecified
    34: 503,  # no circuit available
    38: 503,  # network out of order
    41: 503,  # temporary failure
    42: 503,  # switching equipment congestion
    47: 503,  # resource unavailable
    55: 403,  # incoming calls barred within CUG
    57: 403,  # bearer capability not authorized
    58: 503,  # bearer capability not presently available
    65: 488,  # bearer capability not implemented
    70: 488,  # only restricted digital information bearer capability is available
    79: 501,  # service or option not implemented
    87: 403,  # user not member of CUG
    88: 503,  # incompatible destination
    102: 504,  # recovery on timer expiry
    111: 500,  # protocol error
    127: 500,  # interworking, unspecified
}

# Codes newer than RFC 3398 that would otherwise fall to their class's x00 (RFC 3261 §8.1.3.2:
# 607 would become 600 "busy"): callgate's choice, not the RFC's.
_NEWER_STATUS: dict[int, int] = {
    433: 21,  # Anonymity Disallowed (RFC 5079): the callee refuses
    607: 21,  # Unwanted (RFC 8197)
    608: 21,  # Rejected (RFC 8688)
}
# Warning codes in a 488/606 that speak of bearer capability: media not available (RFC 3261
# §20.43) -> 65 Bearer capability not implemented; any other warning -> 31 Normal, unspecified.
_BEARER_WARNINGS = frozenset({304, 305})


def cause_for_status(status: int, warning_codes: tuple[int, ...] = ()) -> int | None:
    """The Q.850 cause of a SIP final failure `status` (RFC 3398 §8.2.6.1), or None where the
    RFC has none: 1xx, 2xx and 3xx (not failures here), and 487 (our own CANCEL took effect).

    488 and 606 map by their Warning codes; a code missing from the table maps as its class's
    x00 (RFC 3261 §8.1.3.2), e.g. 499 as 400.
    """
    if status < 400 or status == 487:
        return None
    if status in (488, 606):
        return 65 if any(code in _BEARER_WARNINGS for code in warning_codes) else 31
    if status in SIP_TO_Q850:
        return SIP_TO_Q850[status]
    if status in _NEWER_STATUS:
        return _NEWER_STATUS[status]
    return SIP_TO_Q850.get(status // 100 * 100, 127)


def cause_for_response(response: SipResponse) -> int | None:
    """The Q.850 cause a final response reports: its `Reason: Q.850;cause=N` when present (RFC
    3326, RFC 6432), else `cause_for_status` with its Warning codes."""
    explicit = response.q850_cause
    if explicit is not None and 0 <= explicit <= 127:
        return explicit
    return cause_for_status(response.status, _warning_codes(response))


def _warning_codes(response: SipResponse) -> tuple[int, ...]:
    """warning-value  =  warn-code SP warn-agent SP warn-text; warn-code = 3DIGIT"""
    codes = []
    for value in response.get_all("Warning"):
        code = value.strip(" \t")[:3]
        if len(code) == 3 and code.isdigit():
            codes.append(int(code))
    return tuple(codes)


def status_for_cause(cause: int, *, user_rejected: bool = False) -> int:
    """The SIP status that refuses an inbound INVITE for Q.850 `cause` (RFC 3398 §7.2.4.1).

    `user_rejected`: the cause's location is the user (the app said no), so a 4xx the RFC marks
    (+) becomes its 6xx: 21 Call rejected gives 603 Decline rather than 403. Causes the table
    lacks take their class's answer, callgate's reading of the table's class headings:
    normal events 480, resource unavailable and service not available 503, not implemented
    501, everything else 500. Cause 16 (normal clearing) is 480 for the same reason.
    """
    if cause == 21 and user_rejected:
        return 603
    if cause in Q850_TO_SIP:
        return Q850_TO_SIP[cause]
    if cause <= 31:
        return 480
    if cause <= 63:
        return 503
    if cause <= 79:
        return 501
    return 500


def q850_reason(cause: int, text: str | None = None) -> str:
    """A Reason header value: `Q.850;cause=16;text="Normal call clearing"` (RFC 3326 §2)."""
    if not 0 <= cause <= 127:
        raise ValueError(f"Q.850 cause {cause} is not 0-127")
    value = f"Q.850;cause={cause}"
    return value if text is None else f"{value};text={quote(text)}"
