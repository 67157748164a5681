"""Blind transfer in call control: our REFER in the call's dialog, and the NOTIFYs it brings back.

`refer.py` holds the protocol's rules and one transfer's state; this part of the engine sends the
REFER (inbound and outbound calls alike, once the dialog is confirmed), routes its response and
the far end's NOTIFYs to that state, answers each NOTIFY (200; 481 when no transfer of ours is in
progress in the dialog; 489 for another event package) and wakes the call at the transfer's
deadline. Every change becomes a `TrunkTransfer` for the domain; the call itself stays up: on
`succeeded` the domain ends it (BYE), on `failed` it goes on with the bot.
"""

from __future__ import annotations

import logging

from callgate.calls.trunk import TrunkTransfer
from callgate.telephony.sip import RequestReceived, SipResponse, TransactionKey

from .call import Phase, SipCall
from .core import Purpose, UserAgentCore
from .messages import bracketed
from .refer import (
    SIPFRAG_TYPE,
    TRANSFER_TIMEOUT_S,
    Transfer,
    TransferProgress,
    is_refer_event,
    parse_sipfrag,
    refer_headers,
    refer_to_uri,
    subscription_terminated,
)

__all__ = ["Transfers"]

log = logging.getLogger(__name__)


class Transfers(UserAgentCore):
    """REFER out, NOTIFY in (see the module docstring)."""

    transfer_timeout_s: float = TRANSFER_TIMEOUT_S

    def _start_transfer(self, session_id: str, target: str, now: float) -> None:
        """Send the REFER. ValueError for a target we cannot address (nothing is sent); a call
        whose dialog is not confirmed yet fails at once (no status); a second transfer while
        one is in progress is ignored (the domain refuses it first)."""
        refer_to = refer_to_uri(
            target,
            domain=bracketed(self.settings.domain),
            port=self._trunk_port(),
            params=self._uri_params,
            scheme=self._scheme,
        )
        call = self._calls.get(session_id)
        if call is None or not call.live:
            return  # ended meanwhile: the domain hears of that, not of a transfer
        if session_id in self._transfers:  # the domain asks once at a time; one answer each
            log.warning("call %s: a transfer is in progress already", session_id)
            return
        transfer = Transfer(session_id, str(refer_to), now + self.transfer_timeout_s)
        dialog = call.dialog
        if call.phase is not Phase.CONFIRMED or dialog is None:  # our 2xx awaits its ACK
            self._report(transfer, TransferProgress("failed", None))
            return
        request = dialog.request(
            "REFER",
            branch=self.layer.new_branch(),
            headers=refer_headers(refer_to, str(dialog.local_uri.uri), str(dialog.contact)),
        )
        self._transfers[session_id] = transfer
        self.stats["refers"] += 1
        key = self._send_in_dialog(call, request, Purpose.REFER, now)
        if key is None:  # the transaction table is full
            self._report(transfer, transfer.on_failure(transport=True))
            return
        transfer.key = key
        transfer.request = request
        self._wake(call, transfer.deadline)

    def _report(self, transfer: Transfer, progress: TransferProgress | None) -> None:
        if progress is None:
            return
        session_id = transfer.session_id
        log.info(
            "call %s: transfer to %s %s (%s)",
            session_id,
            transfer.target,
            progress.state,
            progress.sip_status,
        )
        if progress.final and self._transfers.get(session_id) is transfer:
            del self._transfers[session_id]
        self._out.append(TrunkTransfer(session_id, progress.state, progress.sip_status))

    def _on_refer_response(
        self, call: SipCall, key: TransactionKey, response: SipResponse, now: float
    ) -> None:
        transfer = self._transfers.get(call.session_id)
        if transfer is None or transfer.key != key:
            return  # the transfer ended already (a NOTIFY said more, or its deadline passed)
        status = response.status
        if status in (401, 407) and self._retry_refer(call, transfer, response, now):
            return
        self._report(transfer, transfer.on_refer_response(status))

    def _retry_refer(
        self, call: SipCall, transfer: Transfer, response: SipResponse, now: float
    ) -> bool:
        """One retry with digest credentials, as for our BYE."""
        if self._digest is None or transfer.auth_retried or transfer.request is None:
            return False
        retry = self._digest.authorize(transfer.request, response, branch=self.layer.new_branch())
        if retry is None or call.dialog is None:
            return False
        transfer.auth_retried = True
        if retry.cseq is not None:
            call.dialog.local_cseq = max(call.dialog.local_cseq or 0, retry.cseq.number)
        key = self._send_in_dialog(call, retry, Purpose.REFER, now)
        if key is None:
            return False
        transfer.key, transfer.request = key, retry
        return True

    def _refer_failed(self, call: SipCall, key: TransactionKey, why: str) -> None:
        transfer = self._transfers.get(call.session_id)
        if transfer is not None and transfer.key == key:
            self._report(transfer, transfer.on_failure(transport=why == "transport"))

    def _on_notify(self, event: RequestReceived, now: float) -> None:
        request = event.request
        call = self._in_dialog(request)
        if call is None or call.dialog is None:
            self._reply(event, 481, now)
            return
        dialog = call.dialog
        if not is_refer_event(request.get("Event")):
            self._respond(event.key, dialog.response(request, 489), now)
            return
        rejection = dialog.receive_request(request)
        if rejection is not None:
            self._respond(event.key, dialog.response(request, rejection.status), now)
            return
        transfer = self._transfers.get(call.session_id)
        if transfer is None:  # none of ours in progress: no subscription (RFC 6665 §4.1.3)
            self._respond(event.key, dialog.response(request, 481), now)
            return
        self._respond(event.key, dialog.response(request, 200), now)
        content_type = request.content_type
        status = None
        if content_type is not None and content_type.mime == SIPFRAG_TYPE:
            status = parse_sipfrag(request.body)
        terminated = subscription_terminated(request.get("Subscription-State"))
        self._report(transfer, transfer.on_notify(status, terminated))

    def _transfer_due(self, call: SipCall, now: float) -> None:
        transfer = self._transfers.get(call.session_id)
        if transfer is not None:
            self._report(transfer, transfer.expire(now))
