"""Blind transfer by REFER (RFC 3515): the request we send, the NOTIFYs we read, one transfer's state.

Sans-I/O: no sockets, no clock; times are the `now` the engine is given. We are the transferor:
an in-dialog REFER asks the far end (the transferee) to call `Refer-To` itself; it answers the
REFER (202 Accepted, or a refusal: 403, 405, 603 ...) and then reports how its call to the target
goes in NOTIFYs (`Event: refer`) whose `message/sipfrag` body is that call's latest status line
(RFC 3515 §2.4.5): 100 Trying, 180 Ringing, 200 OK, or a failure such as 486 or 408. A NOTIFY with
`Subscription-State: terminated` ends the implicit subscription (§2.4.7).

What the domain is told, `TransferProgress(state, sip_status)`, each change once:

    REFER 2xx                   trying     202 (or 200)
    NOTIFY 1xx                  trying     its status (180 and 183: ringing)
    NOTIFY 2xx                  succeeded  its status: the far end is connected to the target
    NOTIFY >= 300               failed     its status
    REFER >= 300                failed     its status (401/407 retried once with credentials)
    terminated, no final frag   failed     the last status seen (None if none)
    no answer to REFER          failed     408 (Timer F), 503 for a send that failed (§8.1.3.1)
    the transfer's deadline     failed     408: the far end did not report a final status in time

A NOTIFY may come before the REFER's 202 (they cross): it is taken as the acceptance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from callgate.telephony.sip import SipRequest, SipUri, TransactionKey, parse_uri
from callgate.telephony.sip.grammar import GrammarError

__all__ = [
    "SIPFRAG_TYPE",
    "TRANSFER_TIMEOUT_S",
    "Transfer",
    "TransferProgress",
    "TransferState",
    "is_refer_event",
    "parse_sipfrag",
    "refer_headers",
    "refer_to_uri",
    "subscription_terminated",
]

TransferState = Literal["trying", "ringing", "succeeded", "failed"]
SIPFRAG_TYPE = "message/sipfrag"
TRANSFER_TIMEOUT_S = 60.0
"""The whole transfer, REFER to final NOTIFY: a target may ring for a while before it answers."""
TIMEOUT_STATUS = 408
SEND_FAILED_STATUS = 503

_STATUS_LINE = re.compile(rb"\s*SIP/2\.0[ \t]+([1-6][0-9]{2})(?:[ \t]|\r|\n|$)")
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")


@dataclass(frozen=True, slots=True)
class TransferProgress:
    state: TransferState
    sip_status: int | None

    @property
    def final(self) -> bool:
        return self.state in ("succeeded", "failed")


def parse_sipfrag(body: bytes) -> int | None:
    """The status code of a sipfrag's start line ("SIP/2.0 180 Ringing"), or None when the body
    holds no status line (a request line, or nothing usable)."""
    match = _STATUS_LINE.match(body)
    return int(match.group(1)) if match else None


def is_refer_event(value: str | None) -> bool:
    """The Event header names the refer package (`refer`, `refer;id=93809824`)."""
    if value is None:
        return False
    return value.split(";", 1)[0].strip().lower() == "refer"


def subscription_terminated(value: str | None) -> bool:
    """Subscription-State says `terminated` (with any reason); absent means still active."""
    if value is None:
        return False
    return value.split(";", 1)[0].strip().lower() == "terminated"


def refer_to_uri(
    target: str,
    *,
    domain: str,
    port: int | None,
    params: tuple[tuple[str, str | None], ...],
    scheme: str,
) -> SipUri:
    """The Refer-To URI: a given sip:/sips: URI as is, or a number (digits, *, #, a leading +)
    at the trunk's domain, as our INVITEs address numbers. ValueError says what is wrong."""
    text = target.strip()
    if text.lower().startswith(("sip:", "sips:")):
        try:
            uri = parse_uri(text)
        except GrammarError as exc:
            raise ValueError(f"target {target!r} is not a valid SIP URI: {exc}") from None
        if not isinstance(uri, SipUri) or uri.headers:
            raise ValueError(f"target {target!r}: a sip: or sips: URI without ?headers")
        return uri
    if not _NUMBER.fullmatch(text):
        raise ValueError(
            f"target {target!r} is neither a phone number (digits, *, #, a leading +)"
            " nor a sip: URI"
        )
    try:
        return SipUri.build(domain, user=text, port=port, params=params, scheme=scheme)
    except GrammarError as exc:
        raise ValueError(f"target {target!r}: {exc}") from None


def refer_headers(refer_to: SipUri, referred_by: str, contact: str) -> tuple[tuple[str, str], ...]:
    """The REFER's own fields. REFER refreshes the dialog's target, so it names our Contact."""
    return (
        ("Refer-To", f"<{refer_to}>"),
        ("Referred-By", f"<{referred_by}>"),
        ("Contact", contact),
    )


@dataclass(slots=True, eq=False)
class Transfer:
    """One call's transfer in progress, from the REFER sent to its final status."""

    session_id: str
    target: str
    deadline: float
    key: TransactionKey | None = None
    """The REFER's client transaction, until its final response."""
    request: SipRequest | None = None
    """The REFER as sent (a digest retry copies it)."""
    accepted: bool = False
    auth_retried: bool = False
    last: TransferProgress | None = None
    done: bool = False

    def _report(self, state: TransferState, status: int | None) -> TransferProgress | None:
        if self.done:
            return None
        progress = TransferProgress(state, status)
        if progress.final:
            self.done = True
        if progress == self.last:
            return None  # a NOTIFY repeating the last status tells nothing new
        self.last = progress
        return progress

    def on_refer_response(self, status: int) -> TransferProgress | None:
        """The REFER's response: 1xx tell nothing; 2xx accepts; any other final refuses."""
        if status < 200:
            return None
        self.key = None
        if status < 300:
            if self.accepted:  # a NOTIFY came first and said more
                return None
            self.accepted = True
            return self._report("trying", status)
        return self._report("failed", status)

    def on_notify(self, status: int | None, terminated: bool) -> TransferProgress | None:
        """A NOTIFY of the refer package: its sipfrag's status, and whether it ends the
        subscription. The call stays with us unless the status is a 2xx."""
        self.accepted = True
        if status is not None and status >= 200:
            return self._report("succeeded" if status < 300 else "failed", status)
        if terminated:  # ended without a final status: the transferee gave up on it
            return self._report("failed", self.last.sip_status if self.last else None)
        if status is None:
            return None
        return self._report("ringing" if status in (180, 183) else "trying", status)

    def on_failure(self, *, transport: bool) -> TransferProgress | None:
        """No response to the REFER (its timer ran out), or it could not be sent."""
        self.key = None
        return self._report("failed", SEND_FAILED_STATUS if transport else TIMEOUT_STATUS)

    def expire(self, now: float) -> TransferProgress | None:
        """The transfer's deadline: failed with 408 once it has passed without a final status."""
        if now < self.deadline:
            return None
        return self._report("failed", TIMEOUT_STATUS)
