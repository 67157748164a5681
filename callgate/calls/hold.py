"""Hold and resume, the domain's side: what a hold does to the call's playout, and who may hold.

Either party may hold the call. The far party holds it with its own offer (SIP: a re-INVITE or
UPDATE with sendonly or inactive; the trunk answers recvonly or inactive and sends nothing): the
trunk reports `TrunkHold(by_remote=True)`, announced as `HoldChanged(by="remote")` (`hold` on
the wire), and its end likewise (`resume`). The application holds it with its `hold` command:
the trunk offers sendonly and plays music on hold; the far end's 2xx is announced as
`HoldChanged(by="local")`, a refusal as `HoldFailed`. Its `resume` takes the call off our hold
(sendrecv again) and, as before, plays on after a barge-in pause.

While the call is held, by either side, the playout stands still: the application's queued
audio is neither sent nor dropped, its checkpoints wait behind it, and everything plays on from
where it stopped once neither side holds the call; audio sent meanwhile is queued as usual (up
to `playout_max_s`). The far party hears silence (its own hold), or our music on hold.

Our hold takes effect when it is asked: the playout stops and the music starts at once, before
the far end has answered; a refusal (`HoldFailed` with action "hold") undoes it. A refused
`resume` leaves the application's audio playing (the far end still treats the call as held).

Refusals before anything is sent (the command's ack says why): the call is not on a trunk that
can hold (the simulated carrier), is not answered, is held by us already (`hold`), or the trunk
cannot take a new offer now (another offer in progress in the dialog).
"""

from __future__ import annotations

from callgate.calls.call import LiveCall
from callgate.calls.machine import CallState
from callgate.calls.trunk import HoldsCalls, Trunk


class HoldError(ValueError):
    """A hold or resume refused before anything was sent; the message says why."""


def holding_trunk(trunk: Trunk, call: LiveCall) -> HoldsCalls:
    """The call's trunk, if the application may hold or resume the call now; else HoldError."""
    if not isinstance(trunk, HoldsCalls):
        raise HoldError(
            f"call {call.session_id} is not a SIP call: only calls on a SIP trunk can be held"
        )
    if call.state is not CallState.CONNECTED:
        raise HoldError(
            f"call {call.session_id} is {call.state.value}, not answered: hold it once its"
            " dialStatus is Connected"
        )
    return trunk
