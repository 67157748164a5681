"""Blind transfer, the domain's side: who may transfer what, and what each outcome does to the call.

The application asks (`POST /pbx/transfer`, the Socket.IO `transfer` event) to hand an answered
call's far party to `target`. The trunk does the signalling (SIP REFER: callgate/telephony/siptrunk/
refer.py) and reports `TrunkTransfer` events; each is announced as `TransferStatusChanged`
(`transferStatus` on the wire). `succeeded`: the far party is now talking to the target, so the
gateway ends its own leg (BYE, cause 16, hung up by our side) with `transferredTo` in the CDR.
`failed`: the call stays up with the bot, which may go on or try again.

Refusals before anything is sent, each with the HTTP status the REST endpoint answers:

    404  no live call of the account has that sessionId
    400  a bad target or mode
    409  the call is not on a trunk that can transfer (the simulated carrier), is not answered
         yet, or a transfer of it is already in progress: the request was right, the call's
         state is not
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from callgate.calls.call import LiveCall
from callgate.calls.machine import CallState
from callgate.calls.trunk import TransfersCalls, Trunk

MODES: Final = ("blind",)
MAX_TARGET_CHARS: Final = 256


@dataclass
class TransferError(ValueError):
    """A transfer refused before anything was sent; `status` is the HTTP status for it."""

    status: int
    message: str

    def __str__(self) -> str:
        return self.message


def check_request(target: object, mode: object) -> str:
    """The target of a well-formed request, or TransferError(400) saying what is wrong."""
    if mode not in MODES:
        raise TransferError(400, f"mode must be one of: {', '.join(MODES)} (got {mode!r})")
    if not isinstance(target, str) or not target.strip():
        raise TransferError(400, "target is required: a phone number or a sip: URI")
    if len(target) > MAX_TARGET_CHARS:
        raise TransferError(400, f"target is longer than {MAX_TARGET_CHARS} characters")
    return target.strip()


def transferring_trunk(trunk: Trunk, call: LiveCall) -> TransfersCalls:
    """The call's trunk, if the call can be transferred now; else TransferError."""
    if not isinstance(trunk, TransfersCalls):
        raise TransferError(
            409, f"call {call.session_id} is not a SIP call: only calls on a SIP trunk transfer"
        )
    if call.state is not CallState.CONNECTED:
        raise TransferError(
            409,
            f"call {call.session_id} is {call.state.value}, not answered: transfer it once"
            " its dialStatus is Connected",
        )
    if call.transfer_target is not None:
        raise TransferError(
            409,
            f"a transfer of call {call.session_id} to {call.transfer_target} is already in"
            " progress: wait for its transferStatus succeeded or failed",
        )
    return trunk
