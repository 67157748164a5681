"""Hold and resume, ours (RFC 3264 §8.4): a re-INVITE with sendonly, then sendrecv again.

`hold` offers our SDP again with `a=sendonly` (the far end answers recvonly, or inactive when it
holds us too) and plays music on hold in place of the domain's frames (`MusicOnHold`); `resume`
stops the music and offers sendrecv. While we hold, every answer of ours to the far end's own
offers (midcall.py) says sendonly too, and a session refresh offers the held direction again, so
nothing takes the call off hold behind the application's back.

One offer at a time in a dialog (RFC 3261 §14.1): `hold` and `resume` raise ValueError while
another offer is in progress (a session refresh, the peer's offer awaiting its ACK, an earlier
hold) or before the dialog is confirmed, so nothing is sent and the domain refuses the command.
The outcome is a `TrunkHold` (by_remote False) on the 2xx, or a `TrunkHoldFailed` with the status
of a refusal (None: no answer at all). A refused hold stops the music again; a refused resume
leaves the call held as the far end last agreed, the domain's frames flowing. A 408 or 481
ends the call, as for any request in the dialog (§12.2.1.2).
"""

from __future__ import annotations

import logging

from callgate.calls.trunk import TrunkHold, TrunkHoldFailed
from callgate.telephony.sip import Direction, SdpError, SipResponse, TransactionKey
from callgate.telephony.sip.session_timer import settled_by_response

from .call import Phase, SipCall
from .core import ALLOW, SDP_TYPE, Purpose, UserAgentCore
from .messages import sdp_body
from .outputs import MediaStart, MusicOnHold

__all__ = ["Holds"]

log = logging.getLogger(__name__)


class Holds(UserAgentCore):
    """Our hold and resume re-INVITEs (see the module docstring)."""

    def _start_hold(self, session_id: str, held: bool, now: float) -> None:
        call = self._calls.get(session_id)
        if call is None or not call.live:
            raise ValueError("the call has ended")
        dialog, sdp = call.dialog, call.sdp
        if call.phase is not Phase.CONFIRMED or dialog is None or sdp is None:
            raise ValueError("the call is not confirmed yet (its ACK has not come)")
        if call.pending is not None or call.answer_in_ack:
            raise ValueError("another offer is in progress in the dialog; try again shortly")
        timer = call.session_timer
        headers = self._timer_headers(timer.interval_s if timer is not None else 0)
        body = sdp.offer(direction=Direction.SENDONLY if held else Direction.SENDRECV)
        request = dialog.request(
            "INVITE",
            branch=self.layer.new_branch(),
            headers=(("Allow", ALLOW), *headers),
            body=body,
            content_type=SDP_TYPE,
        )
        key = self._send_in_dialog(call, request, Purpose.HOLD, now)
        if key is None:
            raise ValueError("too many SIP transactions in progress; try again shortly")
        call.holding = held
        call.pending = call.hold_pending = key
        self.stats["holds" if held else "resumes"] += 1
        self._out.append(MusicOnHold(session_id, held))

    def _on_hold_response(
        self, call: SipCall, key: TransactionKey, response: SipResponse, now: float
    ) -> None:
        status = response.status
        if status < 200 or key != call.hold_pending:
            return
        call.pending = call.hold_pending = None
        cseq, dialog = response.cseq, call.dialog
        if 200 <= status < 300 and cseq is not None and dialog is not None:
            # §13.2.2.4: every 2xx to our re-INVITE is ACKed, even for a call ended meanwhile.
            ack = dialog.ack(cseq.number, branch=self.layer.new_branch())
            self._run(self.layer.ack_2xx(key, ack, self._target_of(dialog), now), now)
        current = self._calls.get(call.session_id) is call
        if not current or call.phase is not Phase.CONFIRMED or dialog is None:
            return  # a BYE (either side's) ended it meanwhile
        held = call.holding
        if 200 <= status < 300:
            sdp = sdp_body(response)
            if sdp is not None and call.sdp is not None:
                try:
                    audio = call.sdp.accept_answer(sdp)
                except SdpError as exc:  # the answer cannot be refused: keep the media as it was
                    log.info("call %s: hold answer unusable: %s", call.session_id, exc)
                else:
                    before, call.audio = call.audio, audio
                    self._out.append(MediaStart(call.session_id, audio, answered=True))
                    # An answer may also end the far end's own hold (recvonly where it had
                    # offered sendonly), or start one (inactive to our sendonly).
                    self._note_remote_hold(call, before, audio)
            if call.session_timer is not None:  # the re-INVITE refreshed the session too
                self._settle_timer(call, settled_by_response(response), now)
            self._out.append(TrunkHold(call.session_id, held, by_remote=False))
            return
        if status in (408, 481):  # §12.2.1.2: the dialog is gone
            self._hold_lost(call, status, now)
            return
        log.info("call %s: %s refused: %d", call.session_id, "hold" if held else "resume", status)
        self._hold_refused(call, status)

    def _hold_failed(self, call: SipCall, key: TransactionKey, now: float) -> None:
        """Our hold or resume got no answer at all (Timer B) or could not be sent."""
        if key != call.hold_pending:
            return
        call.pending = call.hold_pending = None
        if call.live and call.phase is Phase.CONFIRMED:
            self._hold_lost(call, None, now)

    def _hold_lost(self, call: SipCall, status: int | None, now: float) -> None:
        self._hold_refused(call, status)
        self._session_lost(call, now)

    def _hold_refused(self, call: SipCall, status: int | None) -> None:
        held = call.holding
        if held:  # not held after all: the domain's frames again
            call.holding = False
            self._out.append(MusicOnHold(call.session_id, False))
        self._out.append(TrunkHoldFailed(call.session_id, held, status))

    def _session_lost(self, call: SipCall, now: float) -> None:
        raise NotImplementedError  # MidCall: BYE, cause 102
