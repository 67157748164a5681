"""Dialogs (RFC 3261 §12): the state in-dialog requests are built from and matched against.

A dialog is Call-ID + local tag + remote tag, plus what routing needs: the remote target (the
peer's Contact, refreshed by re-INVITE), the route set (Record-Route, reversed for the UAC),
and the CSeq counters. The UAC side is created from a 1xx-with-tag or 2xx to our INVITE
(`Dialog.from_response`), the UAS side from the INVITE we answer (`Dialog.from_request`).

Building a request (§12.2.1.1): with a loose first route (`;lr`) the Request-URI is the remote
target and every route goes in Route; with a strict one (RFC 2543 proxies) the first route
becomes the Request-URI and the remote target is appended as the last Route. The first hop is
the first route's URI, else the remote target (`Dialog.next_hop`, `uri_target`).

Received requests (§12.2.2): `Dialog.receive_request` rejects an out-of-order CSeq with 500
and takes a re-INVITE's Contact as the new remote target. Nothing here sends, reads a clock
or draws randomness itself: branches and tags come from the caller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from .address import NameAddr
from .errors import SipLocalError
from .message import SipRequest, SipResponse
from .params import Params
from .transactions.events import Target
from .transactions.matching import random_token
from .transactions.requests import build_cancel
from .uri import SipUri, Uri
from .validate import Rejection, response_for

__all__ = [
    "Dialog",
    "DialogId",
    "DialogTable",
    "DialogTableFull",
    "Endpoint",
    "build_cancel",
    "make_request",
    "new_tag",
    "uri_target",
]

Headers = Iterable[tuple[str, str]]
_MAX_FORWARDS = "70"
# Requests that set the remote target (§12.2: INVITE; RFC 3311: UPDATE).
_TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})
# A Request-URI may not carry these (§19.1.1, Table 1), so strict routing strips them.
_NOT_IN_REQUEST_URI = frozenset({"method"})


def new_tag() -> str:
    """A fresh From/To tag (§19.3: at least 32 random bits)."""
    return random_token()


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID, local tag, remote tag (§12): equal ids, same dialog."""

    call_id: str
    local_tag: str
    remote_tag: str

    @classmethod
    def of_request(cls, request: SipRequest) -> DialogId | None:
        """The id a request the peer sent claims: our tag is its To tag. None outside a dialog."""
        if request.call_id is None or request.to_tag is None:
            return None
        return cls(request.call_id, request.to_tag, request.from_tag or "")

    @classmethod
    def of_response(cls, response: SipResponse) -> DialogId | None:
        """The id of a response to our request: our tag is its From tag."""
        if response.call_id is None or response.from_tag is None or response.to_tag is None:
            return None
        return cls(response.call_id, response.from_tag, response.to_tag)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How we appear on the wire: the Via sent-by, the Contact, and an optional User-Agent."""

    host: str
    port: int = 5060
    transport: str = "UDP"
    user: str | None = None  # the Contact's user part
    user_agent: str | None = None
    secure: bool = False
    """A SIPS Contact (RFC 5630: TLS to us on every hop, so no transport parameter)."""

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    def via(self, branch: str) -> str:
        """A top Via for a new request; `rport` asks for responses to our source port (RFC 3581)."""
        return f"SIP/2.0/{self.transport.upper()} {self.hostport};rport;branch={branch}"

    @property
    def contact(self) -> NameAddr:
        params: tuple[tuple[str, str | None], ...] = ()
        if self.transport.upper() != "UDP" and not self.secure:
            params = (("transport", self.transport.lower()),)
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        scheme = "sips" if self.secure else "sip"
        uri = SipUri.build(host, user=self.user, port=self.port, params=params, scheme=scheme)
        return NameAddr(uri)


def make_request(
    method: str,
    uri: Uri,
    *,
    via: str,
    from_: NameAddr,
    to: NameAddr,
    call_id: str,
    cseq: int,
    contact: NameAddr | None = None,
    route: Iterable[NameAddr] = (),
    headers: Headers = (),
    body: bytes = b"",
    content_type: str | None = None,
    user_agent: str | None = None,
) -> SipRequest:
    """A request with the fields §8.1.1 requires, in the order most stacks write them."""
    lines: list[tuple[str, str]] = [("Via", via), ("Max-Forwards", _MAX_FORWARDS)]
    lines += [("Route", str(hop)) for hop in route]
    lines += [
        ("From", str(from_)),
        ("To", str(to)),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        lines.append(("Contact", str(contact)))
    if user_agent:
        lines.append(("User-Agent", user_agent))
    lines += headers
    if body:
        if content_type is None:
            raise SipLocalError("a body needs a content_type")
        lines.append(("Content-Type", content_type))
    return SipRequest(method=method, uri=uri, headers=tuple(lines), body=body)


def uri_target(uri: Uri, *, transport: str = "UDP") -> Target:
    """Where a SIP URI points (RFC 3263 §4 without DNS): `maddr` or host, the port or the
    scheme's default, the `transport` parameter or `transport`. A host name is left for the
    transport to resolve."""
    if not isinstance(uri, SipUri):
        raise SipLocalError(f"cannot send to a {uri.scheme}: URI")
    chosen = (uri.transport or ("tls" if uri.scheme == "sips" else transport)).upper()
    host = (uri.param("maddr") or uri.host).strip("[]")
    port = uri.port or (5061 if chosen == "TLS" else 5060)
    return Target(host, port, chosen)


def _without_tag(address: NameAddr) -> NameAddr:
    params = Params(tuple((k, v) for k, v in address.params if k.lower() != "tag"))
    return NameAddr(address.uri, address.display_name, params)


def _strict_uri(uri: Uri) -> Uri:
    """A route URI made fit for the Request-URI: no headers, no `method` parameter."""
    if not isinstance(uri, SipUri):
        return uri
    params = tuple((k, v) for k, v in uri.params if k.lower() not in _NOT_IN_REQUEST_URI)
    return dataclasses.replace(uri, params=params, headers=())


@dataclass(slots=True)
class Dialog:
    """One dialog's state (§12.1), from the point of view of our side of it."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr  # ours, without tag: From of our requests
    remote_uri: NameAddr  # theirs, without tag: To of our requests
    remote_target: Uri
    route_set: tuple[NameAddr, ...]
    endpoint: Endpoint
    local_cseq: int | None = None  # last CSeq number we used; None: none yet (UAS)
    remote_cseq: int | None = None  # last CSeq number the peer used
    early: bool = False
    secure: bool = False
    flow: Target | None = None
    """The TCP/TLS connection the dialog was set up over: its requests go there while it is open."""

    # --- creation ---------------------------------------------------------------------------

    @classmethod
    def from_response(
        cls,
        invite: SipRequest,
        response: SipResponse,
        endpoint: Endpoint,
        *,
        flow: Target | None = None,
    ) -> Dialog:
        """UAC (§12.1.2): from a 2xx, or a 101-199 with a To tag (an early dialog); `flow` is
        where the INVITE went."""
        from_, to, cseq = invite.from_, invite.to, invite.cseq
        if from_ is None or to is None or cseq is None or invite.call_id is None:
            raise SipLocalError("INVITE lacks From, To, CSeq or Call-ID")
        if from_.tag is None:
            raise SipLocalError("our INVITE has no From tag")
        status = response.status
        if not 101 <= status < 300:
            raise SipLocalError(f"a {status} creates no dialog")
        contacts = response.contacts
        return cls(
            call_id=invite.call_id,
            local_tag=from_.tag,
            # §12.1.2: a missing To tag (RFC 2543 peers) is the empty tag.
            remote_tag=response.to_tag or "",
            local_uri=_without_tag(from_),
            remote_uri=_without_tag(to),
            # Contact is mandatory in a dialog-creating response; fall back to where we sent.
            remote_target=contacts[0].uri if contacts else invite.uri,
            route_set=tuple(reversed(response.record_route)),
            endpoint=endpoint,
            local_cseq=cseq.number,
            early=status < 200,
            secure=invite.uri.scheme == "sips",
            flow=flow if flow is not None and flow.reliable else None,
        )

    @classmethod
    def from_request(
        cls,
        invite: SipRequest,
        *,
        local_tag: str,
        endpoint: Endpoint,
        flow: Target | None = None,
    ) -> Dialog:
        """UAS (§12.1.1): from the INVITE we answer with `local_tag` in our To; `flow` is where
        it came from."""
        from_, to, cseq = invite.from_, invite.to, invite.cseq
        if from_ is None or to is None or cseq is None or invite.call_id is None:
            raise SipLocalError("INVITE lacks From, To, CSeq or Call-ID")
        contacts = invite.contacts
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=from_.tag or "",
            local_uri=_without_tag(to),
            remote_uri=_without_tag(from_),
            remote_target=contacts[0].uri if contacts else from_.uri,
            route_set=invite.record_route,
            endpoint=endpoint,
            remote_cseq=cseq.number,
            secure=invite.uri.scheme == "sips",
            flow=flow if flow is not None and flow.reliable else None,
        )

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    def confirm(self, response: SipResponse) -> None:
        """An early dialog's 2xx arrived (§13.2.2.4): confirmed, route set recomputed from the
        2xx, remote target taken from its Contact."""
        self.early = False
        self.route_set = tuple(reversed(response.record_route))
        self.refresh_target(response)

    def refresh_target(self, message: SipRequest | SipResponse) -> None:
        """A target refresh (re-INVITE, or its 2xx) replaces the remote target with its Contact."""
        contacts = message.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    # --- routing ----------------------------------------------------------------------------

    @property
    def strict_routing(self) -> bool:
        """True when the first route lacks `lr` (an RFC 2543 strict router, §12.2.1.1)."""
        first = self.route_set[0].uri if self.route_set else None
        return isinstance(first, SipUri) and not first.lr

    def request_uri_and_route(self) -> tuple[Uri, tuple[NameAddr, ...]]:
        """The Request-URI and Route values of the next in-dialog request (§12.2.1.1)."""
        if not self.route_set:
            return self.remote_target, ()
        if not self.strict_routing:
            return self.remote_target, self.route_set
        first, *rest = self.route_set
        return _strict_uri(first.uri), (*rest, NameAddr(self.remote_target))

    @property
    def next_hop(self) -> Uri:
        """Where in-dialog requests go first: the first route, else the remote target."""
        return self.route_set[0].uri if self.route_set else self.remote_target

    def target(self) -> Target:
        """`next_hop` as a transport destination, on our endpoint's transport by default; on the
        dialog's connection while it lasts (`flow`)."""
        target = uri_target(self.next_hop, transport=self.endpoint.transport)
        flow = self.flow
        if flow is not None and flow.reliable and flow.transport == target.transport:
            return dataclasses.replace(target, flow=(flow.host, flow.port))
        return target

    # --- building ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        *,
        branch: str,
        headers: Headers = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> SipRequest:
        """A new in-dialog request (BYE, re-INVITE, OPTIONS, INFO, UPDATE ...) with the next
        CSeq number. ACK and CANCEL take their INVITE's number: see `ack` and `build_cancel`."""
        if method in ("ACK", "CANCEL"):
            raise SipLocalError(f"{method} reuses its INVITE's CSeq: use ack() or build_cancel()")
        self.local_cseq = (self.local_cseq or 0) + 1
        return self._build(method, self.local_cseq, branch, headers, body, content_type)

    def ack(
        self,
        invite_cseq: int,
        *,
        branch: str,
        headers: Headers = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> SipRequest:
        """The ACK for a 2xx (§13.2.2.4): the INVITE's CSeq number, routed like any in-dialog
        request, its own branch. Copy the INVITE's Authorization lines into `headers`."""
        return self._build("ACK", invite_cseq, branch, headers, body, content_type)

    def _build(
        self,
        method: str,
        cseq: int,
        branch: str,
        headers: Headers,
        body: bytes,
        content_type: str | None,
    ) -> SipRequest:
        uri, route = self.request_uri_and_route()
        return make_request(
            method,
            uri,
            via=self.endpoint.via(branch),
            from_=self.local_uri.with_tag(self.local_tag),
            to=self.remote_uri.with_tag(self.remote_tag) if self.remote_tag else self.remote_uri,
            call_id=self.call_id,
            cseq=cseq,
            contact=self.contact if method in _TARGET_REFRESH else None,
            route=route,
            headers=headers,
            body=body,
            content_type=content_type,
            user_agent=self.endpoint.user_agent,
        )

    @property
    def contact(self) -> NameAddr:
        """Ours in this dialog: a SIPS URI when a SIPS request set it up (§12.1.1)."""
        if self.secure and not self.endpoint.secure:
            return dataclasses.replace(self.endpoint, secure=True).contact
        return self.endpoint.contact

    def response(
        self,
        request: SipRequest,
        status: int,
        *,
        reason: str | None = None,
        headers: Headers = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> SipResponse:
        """Our response to `request` in this dialog: our tag in To, our Contact where the
        response establishes or refreshes the dialog (1xx/2xx to INVITE, 2xx to UPDATE)."""
        lines = list(headers)
        method = request.method
        if (method == "INVITE" and 100 < status < 300) or (method == "UPDATE" and status < 300):
            lines.insert(0, ("Contact", str(self.contact)))
        if body:
            if content_type is None:
                raise SipLocalError("a body needs a content_type")
            lines.append(("Content-Type", content_type))
        return response_for(
            request, status, reason, to_tag=self.local_tag, headers=lines, body=body
        )

    # --- receiving --------------------------------------------------------------------------

    def matches(self, request: SipRequest) -> bool:
        """True when `request` (from the peer) belongs to this dialog."""
        return DialogId.of_request(request) == self.id

    def receive_request(self, request: SipRequest) -> Rejection | None:
        """Account for an in-dialog request from the peer (§12.2.2), or say why to refuse it.

        A CSeq lower than the last one is out of order: 500. ACK and CANCEL reuse their
        INVITE's number and are not checked. A re-INVITE or UPDATE refreshes the remote target.
        """
        cseq = request.cseq
        if cseq is None:
            return Rejection(400, "no CSeq")
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_cseq is not None and cseq.number < self.remote_cseq:
                return Rejection(500, f"CSeq {cseq.number} is below {self.remote_cseq}")
            self.remote_cseq = cseq.number
        if request.method in _TARGET_REFRESH:
            self.refresh_target(request)
        return None


class DialogTableFull(SipLocalError):
    """`DialogTable.add` found `max_dialogs` dialogs: answer the INVITE 503 instead."""


class DialogTable:
    """Live dialogs by id, bounded: when full, `add` raises and the TU refuses the call (503)."""

    def __init__(self, max_dialogs: int = 10_000) -> None:
        self.max_dialogs = max_dialogs
        self._dialogs: dict[DialogId, Dialog] = {}

    def __len__(self) -> int:
        return len(self._dialogs)

    @property
    def full(self) -> bool:
        return len(self._dialogs) >= self.max_dialogs

    def add(self, dialog: Dialog) -> None:
        if dialog.id not in self._dialogs and self.full:
            raise DialogTableFull(f"{len(self._dialogs)} dialogs live, the limit")
        self._dialogs[dialog.id] = dialog

    def get(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def for_request(self, request: SipRequest) -> Dialog | None:
        """The dialog an incoming in-dialog request belongs to (§12.2.2), or None."""
        dialog_id = DialogId.of_request(request)
        return None if dialog_id is None else self._dialogs.get(dialog_id)

    def for_response(self, response: SipResponse) -> Dialog | None:
        """The dialog a response to our request belongs to, or None."""
        dialog_id = DialogId.of_response(response)
        return None if dialog_id is None else self._dialogs.get(dialog_id)

    def remove(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.pop(dialog_id, None)
