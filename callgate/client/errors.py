"""What can go wrong for a client of the Outgoing Call Service, and whose fault it is.

`ApiError` is the gateway refusing a request (its status and the envelope's message). `CallEnded`
and its subclasses are the call itself ending: each carries the call's final CDR, so a bot that
dialled a busy number learns the disposition and Q.850 cause without another request.
"""

from __future__ import annotations

from callgate.client.records import Cdr


class CallgateError(Exception):
    """Base of every error this client raises."""


class ApiError(CallgateError):
    """The gateway answered a request with an error envelope (4xx/5xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ConnectionLost(CallgateError):
    """The Socket.IO connection could not be restored within the client's reconnect budget."""


class CallEnded(CallgateError):
    """The call ended (before it connected, or while something was waiting on it)."""

    def __init__(self, cdr: Cdr) -> None:
        super().__init__(
            f"call {cdr.session_id} ended: {cdr.disposition} "
            f"(cause {cdr.hangup_cause_code} {cdr.hangup_cause_text})"
        )
        self.cdr = cdr


class CallNotConnected(CallEnded):
    """`connected()` on a call that ended before it was answered; the subclass says why."""


class Busy(CallNotConnected):
    """BUSY with cause 17 (or another cause a busy far end gives)."""


class Declined(CallNotConnected):
    """BUSY with cause 21: the callee refused the call."""


class NoAnswer(CallNotConnected):
    """NO ANSWER: rang out (19) or no response (18)."""


class Failed(CallNotConnected):
    """FAILED: invalid number, congestion, network failure..."""


class Cancelled(CallNotConnected):
    """CANCEL: hung up (by us, or the gateway) before the answer."""


def not_connected(cdr: Cdr) -> CallNotConnected:
    """The error for a call that ended unanswered, chosen from its CDR."""
    if cdr.disposition == "BUSY":
        return Declined(cdr) if cdr.hangup_cause_code == 21 else Busy(cdr)
    if cdr.disposition == "NO ANSWER":
        return NoAnswer(cdr)
    if cdr.disposition == "CANCEL":
        return Cancelled(cdr)
    return Failed(cdr)
