"""Requests a transaction derives from another: ACK for a non-2xx (§17.1.1.3), CANCEL (§9.1),
and the 100 Trying an INVITE server sends on its own (§17.2.1, §8.2.6.1)."""

from __future__ import annotations

from ..errors import SipLocalError
from ..message import SipRequest, SipResponse
from ..validate import response_for

__all__ = ["build_cancel", "build_non2xx_ack", "build_trying"]

_DEFAULT_MAX_FORWARDS = "70"  # §8.1.1.6


def _copied(request: SipRequest, method: str, to_value: str) -> list[tuple[str, str]]:
    """The lines ACK and CANCEL share with their INVITE: one Via (the INVITE's top one), Route
    copied, From, To, Call-ID, CSeq with the INVITE's number, Max-Forwards."""
    vias = request.get_all("Via")
    cseq = request.cseq
    call_id = request.get("Call-ID")
    from_value = request.get("From")
    if not vias or cseq is None or call_id is None or from_value is None:
        raise SipLocalError(f"{request.method} lacks Via, From, Call-ID or CSeq")
    lines = [
        ("Via", vias[0]),
        ("Max-Forwards", request.get("Max-Forwards") or _DEFAULT_MAX_FORWARDS),
    ]
    lines += [("Route", route) for route in request.get_all("Route")]
    lines += [
        ("From", from_value),
        ("To", to_value),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq.number} {method}"),
    ]
    return lines


def build_non2xx_ack(invite: SipRequest, response: SipResponse) -> SipRequest:
    """§17.1.1.3: same Request-URI, Call-ID, From, CSeq number and top Via as the INVITE (so it
    matches the server transaction), Route copied, and the To of the response (its tag)."""
    to_value = response.get("To") or invite.get("To")
    if to_value is None:
        raise SipLocalError("no To to put in the ACK")
    return SipRequest(method="ACK", uri=invite.uri, headers=tuple(_copied(invite, "ACK", to_value)))


def build_cancel(invite: SipRequest, *, reason: str | None = None) -> SipRequest:
    """§9.1: a CANCEL that matches `invite` hop by hop: its Request-URI, Call-ID, From, To (as
    sent, without a tag the INVITE lacked), CSeq number, top Via (so the same branch) and Route.
    `reason` is an RFC 3326 Reason value, e.g. 'Q.850;cause=16;text="Normal call clearing"'."""
    if invite.method != "INVITE":
        raise SipLocalError(f"only an INVITE can be CANCELled, not {invite.method}")
    to_value = invite.get("To")
    if to_value is None:
        raise SipLocalError("INVITE without To")
    lines = _copied(invite, "CANCEL", to_value)
    if reason is not None:
        lines.append(("Reason", reason))
    return SipRequest(method="CANCEL", uri=invite.uri, headers=tuple(lines))


def build_trying(invite: SipRequest) -> SipResponse:
    """100 Trying: no To tag needed, Timestamp echoed (response_for does both)."""
    return response_for(invite, 100)
