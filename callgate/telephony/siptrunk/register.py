"""REGISTER with refresh (RFC 3261 §10.2): bind our Contact at the trunk and keep it bound.

Sans-I/O like the rest: `request(now, branch)` builds the next REGISTER when `deadline` has come,
`on_response` / `on_failure` say what happened, and `deadline` is when to send again.

- A 2xx grants an interval: our Contact's `expires` parameter in it, else its Expires header, else
  what we asked for. We refresh before it runs out: halfway for short intervals (up to 120 s),
  60 s early for longer ones, so one lost refresh still leaves time for the retransmissions.
- 423 Interval Too Brief: ask again at once with its Min-Expires (§10.2.8).
- Any other failure, a timeout or a transport error: try again `retry_s` later. The digest
  challenge round (401/407) is the engine's, as for every other request.
- `unregister` builds the Expires: 0 REGISTER sent when the trunk stops.

One Call-ID and From tag for every REGISTER of this binding, CSeq counting up (§10.2.4).
"""

from __future__ import annotations

from callgate.telephony.sip import (
    Endpoint,
    NameAddr,
    SipRequest,
    SipResponse,
    SipUri,
    make_request,
    new_tag,
)
from callgate.telephony.sip.transactions.matching import random_token

__all__ = ["Registration"]

_SHORT_INTERVAL_S = 120
_REFRESH_MARGIN_S = 60


class Registration:
    def __init__(
        self,
        *,
        registrar: SipUri,
        aor: SipUri,
        endpoint: Endpoint,
        expires_s: int,
        retry_s: float,
        route: tuple[NameAddr, ...] = (),
    ) -> None:
        self.registrar = registrar
        self.aor = NameAddr(aor)
        self.endpoint = endpoint
        self.expires_s = expires_s
        self.retry_s = retry_s
        self.route = route
        self.call_id = f"{random_token()}@{endpoint.host}"
        self.from_tag = new_tag()
        self.cseq = 0
        self.deadline: float | None = 0.0  # register as soon as the trunk starts
        self.registered_until: float | None = None
        self.failures = 0
        self.last_status: int | None = None

    @property
    def registered(self) -> bool:
        return self.registered_until is not None

    def due(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def request(self, now: float, branch: str, *, expires_s: int | None = None) -> SipRequest:
        """The next REGISTER; the deadline is cleared until its outcome is known."""
        self.deadline = None
        self.cseq += 1
        expires = self.expires_s if expires_s is None else expires_s
        return make_request(
            "REGISTER",
            self.registrar,
            via=self.endpoint.via(branch),
            from_=self.aor.with_tag(self.from_tag),
            to=self.aor,
            call_id=self.call_id,
            cseq=self.cseq,
            contact=self.endpoint.contact,
            route=self.route,
            headers=(("Expires", str(expires)),),
            user_agent=self.endpoint.user_agent,
        )

    def unregister(self, now: float, branch: str) -> SipRequest | None:
        """The REGISTER that removes our binding, or None when none is in place."""
        if self.registered_until is None or now >= self.registered_until:
            return None
        self.registered_until = None
        return self.request(now, branch, expires_s=0)

    def sent(self, request: SipRequest) -> None:
        """A digest retry went out with a higher CSeq: count on from it."""
        cseq = request.cseq
        if cseq is not None:
            self.cseq = max(self.cseq, cseq.number)

    def on_response(self, response: SipResponse, now: float) -> None:
        """A final response to our REGISTER (after any digest retry)."""
        self.last_status = response.status
        if 200 <= response.status < 300:
            granted = self._granted(response)
            self.failures = 0
            if granted <= 0:  # the registrar removed the binding: try again later
                self.registered_until = None
                self.deadline = now + self.retry_s
                return
            self.registered_until = now + granted
            early = granted / 2 if granted <= _SHORT_INTERVAL_S else _REFRESH_MARGIN_S
            self.deadline = now + granted - early
            return
        if response.status == 423:
            minimum = _int_or_none(response.get("Min-Expires"))
            if minimum is not None and self.expires_s < minimum <= 86_400 * 7:
                self.expires_s = minimum
                self.deadline = now
                return
        self.on_failure(now)

    def on_failure(self, now: float) -> None:
        """No usable answer (timeout, transport error, refusal): try again later."""
        self.failures += 1
        if self.registered_until is not None and now >= self.registered_until:
            self.registered_until = None
        self.deadline = now + self.retry_s

    def _granted(self, response: SipResponse) -> int:
        ours = self.endpoint.contact.uri
        for contact in response.contacts:
            if isinstance(contact.uri, SipUri) and isinstance(ours, SipUri):
                same = (contact.uri.host, contact.uri.port) == (ours.host, ours.port)
                value = _int_or_none(contact.params.get("expires"))
                if same and value is not None:
                    return value
        header = response.expires
        return self.expires_s if header is None else header


def _int_or_none(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit() or len(text.strip()) > 10:
        return None
    return int(text.strip())
