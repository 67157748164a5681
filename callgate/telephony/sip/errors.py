"""SIP errors that say whose fault it was and what to answer, in the h11 spirit.

- `SipParseError`: the peer sent bytes that are not an acceptable SIP message. It carries the
  status a response should have (400, 413, 414, 505, 513 ...) and, when the request had the
  headers a response is built from, those headers, so the transport can answer statelessly.
  Responses are never answered: a bad response is dropped.
- `SipLocalError`: our own code tried to build something that is not valid SIP (a header value
  with CR LF, a status of 1000, a response that needs a To tag without one). A bug here, never
  a reason to answer the peer.

A parser never lets any other exception escape for any input; the test suite checks that with
every truncation of every captured message and with seeded random mutations.
"""

from __future__ import annotations

from .status import reason_phrase

__all__ = ["ResponseBasis", "SipError", "SipLocalError", "SipParseError"]

# The header lines (canonical name, value) a response copies from its request (RFC 3261
# §8.2.6.2): every Via, From, To, Call-ID, CSeq, in the request's order.
ResponseBasis = tuple[tuple[str, str], ...]


class SipError(Exception):
    """Base of every error this package raises on purpose."""


class SipParseError(SipError):
    """The peer did it: `data` is not a SIP message we accept. Answer `status` if we can."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        is_request: bool,
        basis: ResponseBasis | None = None,
        reason: str | None = None,
    ) -> None:
        self.status = status
        self.reason = reason or reason_phrase(status)
        self.detail = detail
        self.is_request = is_request
        self.basis = basis if is_request else None
        super().__init__(f"{status} {self.reason}: {detail}")

    @property
    def can_respond(self) -> bool:
        """True when the bad message is a request whose Via, From, To, Call-ID and CSeq all
        parsed, so a well-formed response can be built; otherwise the only answer is silence."""
        return self.basis is not None


class SipLocalError(SipError):
    """We did it: our code asked for a SIP message that cannot exist. Fix the caller."""
