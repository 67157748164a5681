"""The call lifecycle as one transition table.

Theory of operation: a call starts Dialing (outbound) or Ringing (inbound, offered to the app). Trunk
events move it forward; it ends from any state. Inputs that make no sense in a state (a late 180 after
the answer, anything after the end) are ignored, never errors: the network reorders and repeats.

    Dialing  --ring-->   Ringing
    Dialing  --answer--> Connected
    Ringing  --answer--> Connected
    any      --end-->    Ended
"""

from __future__ import annotations

from enum import StrEnum


class CallState(StrEnum):
    DIALING = "Dialing"
    RINGING = "Ringing"
    CONNECTED = "Connected"
    ENDED = "Ended"


class CallInput(StrEnum):
    RING = "ring"
    ANSWER = "answer"
    END = "end"


TRANSITIONS: dict[tuple[CallState, CallInput], CallState] = {
    (CallState.DIALING, CallInput.RING): CallState.RINGING,
    (CallState.DIALING, CallInput.ANSWER): CallState.CONNECTED,
    (CallState.DIALING, CallInput.END): CallState.ENDED,
    (CallState.RINGING, CallInput.ANSWER): CallState.CONNECTED,
    (CallState.RINGING, CallInput.END): CallState.ENDED,
    (CallState.CONNECTED, CallInput.END): CallState.ENDED,
}


def next_state(state: CallState, event: CallInput) -> CallState | None:
    """The state after `event`, or None when the event is ignored in `state`."""
    return TRANSITIONS.get((state, event))
