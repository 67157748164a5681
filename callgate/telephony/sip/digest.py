"""Digest authentication, client side (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

A 401 carries WWW-Authenticate, a 407 Proxy-Authenticate; each value is a challenge:

    challenge   =  "Digest" LWS digest-cln *(COMMA digest-cln)
    digest-cln  =  realm / domain / nonce / opaque / stale / algorithm / qop-options / auth-param
    auth-param  =  auth-param-name EQUAL ( token / quoted-string )

`DigestClient.authorize(request, response, branch=...)` turns a challenged request into the
retry: one Authorization (or Proxy-Authorization) per challenging realm, CSeq one higher, a new
branch (§22.2). Per realm it answers the topmost challenge whose algorithm it supports (RFC
8760 §2.4: servers list the preferred first): MD5, SHA-256, SHA-512-256 and their -sess forms,
with qop=auth (preferred) or auth-int, or RFC 2069's no-qop. It gives up (None) when the
rejected request already carried credentials for that realm and the new challenge is not
`stale=true`: the password is wrong, and retrying would loop. The nonce count `nc` counts the
uses of each nonce; the cnonce is fresh for every header.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import SipError
from .fields import Via, parse_via
from .grammar import LWS, QUOTED_STRING, SWS, TOKEN, GrammarError, quote, split_list, unquote
from .message import SipRequest, SipResponse
from .params import Params
from .transactions.matching import random_token

__all__ = [
    "ALGORITHMS",
    "Challenge",
    "DigestClient",
    "DigestError",
    "digest_response",
    "parse_challenges",
]


class DigestError(SipError):
    """A challenge we cannot read."""


# RFC 7616 §6.1 / RFC 8760 §2: algorithm name (case-insensitive) -> hash.
ALGORITHMS: dict[str, str] = {
    "MD5": "md5",
    "SHA-256": "sha256",
    "SHA-512-256": "sha512_256",
}
_QOPS = ("auth", "auth-int")  # in our order of preference

_SCHEME_RE = re.compile(rf"{SWS}({TOKEN}){LWS}")
_PARAM_RE = re.compile(rf"{SWS}({TOKEN}){SWS}={SWS}({QUOTED_STRING}|{TOKEN}){SWS}")
_NEXT_IS_SCHEME_RE = re.compile(rf"{SWS}{TOKEN}{LWS}{TOKEN}{SWS}=")
_REALM_RE = re.compile(rf"realm{SWS}={SWS}({QUOTED_STRING}|{TOKEN})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Challenge:
    """One Digest challenge. `proxy`: it came in Proxy-Authenticate (answer in
    Proxy-Authorization)."""

    realm: str
    nonce: str
    algorithm: str | None = None  # as written; None means MD5 (RFC 2617 §3.2.1)
    opaque: str | None = None
    qop: tuple[str, ...] = ()
    stale: bool = False
    userhash: bool = False
    proxy: bool = False

    @property
    def base_algorithm(self) -> str:
        """ "SHA-256" for "sha-256-sess": the hash, without the session variant."""
        name = (self.algorithm or "MD5").upper()
        return name.removesuffix("-SESS")

    @property
    def session(self) -> bool:
        return (self.algorithm or "").upper().endswith("-SESS")

    @property
    def supported(self) -> bool:
        hash_ok = self.base_algorithm in ALGORITHMS
        return hash_ok and (not self.qop or any(q in _QOPS for q in self.qop))

    @property
    def header_name(self) -> str:
        return "Proxy-Authorization" if self.proxy else "Authorization"


def parse_challenges(value: str, *, proxy: bool = False) -> tuple[Challenge, ...]:
    """The Digest challenges in one WWW-Authenticate / Proxy-Authenticate value (other schemes
    are skipped). Raises DigestError when the value does not follow the grammar above."""
    challenges: list[Challenge] = []
    pos, end = 0, len(value)
    while pos < end:
        match = _SCHEME_RE.match(value, pos)
        if match is None:
            raise DigestError(f"no auth scheme at {value[pos : pos + 30]!r}")
        scheme, pos = match.group(1), match.end()
        params: dict[str, str] = {}
        while True:
            param = _PARAM_RE.match(value, pos)
            if param is None:
                raise DigestError(f"malformed auth-param at {value[pos : pos + 30]!r}")
            raw = param.group(2)
            params[param.group(1).lower()] = unquote(raw) if raw.startswith('"') else raw
            pos = param.end()
            if pos >= end:
                break
            if value[pos] != ",":
                raise DigestError(f"expected ',' at {value[pos : pos + 30]!r}")
            pos += 1
            if _NEXT_IS_SCHEME_RE.match(value, pos):
                break  # the comma ended this challenge; another scheme follows
        if scheme.lower() == "digest":
            challenges.append(_challenge(params, proxy))
    return tuple(challenges)


def _challenge(params: dict[str, str], proxy: bool) -> Challenge:
    realm, nonce = params.get("realm"), params.get("nonce")
    if realm is None or nonce is None:
        raise DigestError("a Digest challenge needs realm and nonce")
    qop_text = params.get("qop")
    try:
        qop = tuple(q.strip().lower() for q in split_list(qop_text)) if qop_text else ()
    except GrammarError:
        raise DigestError(f"malformed qop {qop_text!r}") from None
    return Challenge(
        realm=realm,
        nonce=nonce,
        algorithm=params.get("algorithm"),
        opaque=params.get("opaque"),
        qop=qop,
        stale=params.get("stale", "").lower() == "true",
        userhash=params.get("userhash", "").lower() == "true",
        proxy=proxy,
    )


def challenges_in(response: SipResponse) -> tuple[Challenge, ...]:
    """Every readable Digest challenge of a 401/407, in header order; unreadable ones skipped."""
    found: list[Challenge] = []
    for name, proxy in (("WWW-Authenticate", False), ("Proxy-Authenticate", True)):
        for value in response.get_all(name):
            try:
                found.extend(parse_challenges(value, proxy=proxy))
            except DigestError:
                continue
    return tuple(found)


def _hash(algorithm: str, text: str) -> str:
    return hashlib.new(ALGORITHMS[algorithm], text.encode("utf-8")).hexdigest()


def digest_response(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nc: int,
    qop: str | None,
    body: bytes = b"",
) -> str:
    """The `response` value (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1):

    HA1 = H(username:realm:password), for -sess H(HA1:nonce:cnonce)
    HA2 = H(method:uri), for auth-int H(method:uri:H(body))
    response = H(HA1:nonce:nc:cnonce:qop:HA2), or H(HA1:nonce:HA2) without qop
    """
    algorithm = challenge.base_algorithm
    ha1 = _hash(algorithm, f"{username}:{challenge.realm}:{password}")
    if challenge.session:
        ha1 = _hash(algorithm, f"{ha1}:{challenge.nonce}:{cnonce}")
    if qop == "auth-int":
        body_hash = hashlib.new(ALGORITHMS[algorithm], body).hexdigest()
        ha2 = _hash(algorithm, f"{method}:{uri}:{body_hash}")
    else:
        ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop is None:
        return _hash(algorithm, f"{ha1}:{challenge.nonce}:{ha2}")
    return _hash(algorithm, f"{ha1}:{challenge.nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")


class DigestClient:
    """One user's credentials, answering challenges and counting nonce uses."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        realm: str | None = None,
        cnonce: Callable[[], str] = random_token,
    ) -> None:
        self.username = username
        self.password = password
        self.realm = realm  # answer only this realm; None: any
        self._cnonce = cnonce
        self._nc: dict[tuple[str, str], int] = {}

    def credentials(
        self, challenge: Challenge, *, method: str, uri: str, body: bytes = b""
    ) -> tuple[str, str]:
        """(header name, value) answering `challenge` for a request `method uri` with `body`."""
        if not challenge.supported:
            raise DigestError(f"cannot answer algorithm={challenge.algorithm} qop={challenge.qop}")
        qop = next((q for q in _QOPS if q in challenge.qop), None)
        count_key = (challenge.realm, challenge.nonce)
        nc = self._nc.get(count_key, 0) + 1
        self._nc[count_key] = nc
        cnonce = self._cnonce()
        response = digest_response(
            challenge,
            username=self.username,
            password=self.password,
            method=method,
            uri=uri,
            cnonce=cnonce,
            nc=nc,
            qop=qop,
            body=body,
        )
        username = self.username
        if challenge.userhash:
            username = _hash(challenge.base_algorithm, f"{username}:{challenge.realm}")
        parts = [
            f"username={quote(username)}",
            f"realm={quote(challenge.realm)}",
            f"nonce={quote(challenge.nonce)}",
            f"uri={quote(uri)}",
            f"response={quote(response)}",
        ]
        if challenge.algorithm is not None:
            parts.append(f"algorithm={challenge.algorithm}")
        if qop is not None or challenge.session:
            parts.append(f"cnonce={quote(cnonce)}")
        if challenge.opaque is not None:
            parts.append(f"opaque={quote(challenge.opaque)}")
        if qop is not None:
            parts += [f"qop={qop}", f"nc={nc:08x}"]
        if challenge.userhash:
            parts.append("userhash=true")
        return challenge.header_name, "Digest " + ", ".join(parts)

    def authorize(
        self, request: SipRequest, response: SipResponse, *, branch: str
    ) -> SipRequest | None:
        """The retry of `request` answering the 401/407 `response`, or None when we cannot or
        must not retry (no usable challenge, other realm, credentials already refused)."""
        chosen: dict[tuple[bool, str], Challenge] = {}
        for challenge in challenges_in(response):
            if not challenge.supported or (self.realm and challenge.realm != self.realm):
                continue
            chosen.setdefault((challenge.proxy, challenge.realm), challenge)
        if not chosen:
            return None
        replaced: set[tuple[str, str]] = set()
        for challenge in chosen.values():
            name = challenge.header_name
            if _realm_present(request, name, challenge.realm) and not challenge.stale:
                return None  # these credentials were just refused
            replaced.add((name, challenge.realm))
        cseq = request.cseq
        if cseq is None:
            return None
        headers = [line for line in request.headers if not _answers_realm(line, replaced)]
        headers = _with_branch(headers, branch)
        headers = [
            ("CSeq", f"{cseq.number + 1} {cseq.method}") if name == "CSeq" else (name, value)
            for name, value in headers
        ]
        uri = str(request.uri)
        for challenge in chosen.values():
            headers.append(
                self.credentials(challenge, method=request.method, uri=uri, body=request.body)
            )
        return SipRequest(
            method=request.method, uri=request.uri, headers=tuple(headers), body=request.body
        )


def _header_realm(value: str) -> str | None:
    match = _REALM_RE.search(value)
    if match is None:
        return None
    raw = match.group(1)
    return unquote(raw) if raw.startswith('"') else raw


def _realm_present(request: SipRequest, name: str, realm: str) -> bool:
    return any(_header_realm(value) == realm for value in request.get_all(name))


def _answers_realm(line: tuple[str, str], replaced: set[tuple[str, str]]) -> bool:
    name, value = line
    if name not in ("Authorization", "Proxy-Authorization"):
        return False
    return (name, _header_realm(value) or "") in replaced


def _with_branch(headers: list[tuple[str, str]], branch: str) -> list[tuple[str, str]]:
    """`headers` with the top Via's branch replaced: a retry is a new transaction (§22.2)."""
    out = list(headers)
    for index, (name, value) in enumerate(out):
        if name != "Via":
            continue
        first, *rest = split_list(value)
        via = parse_via(first)[0]
        items = tuple((k, v) for k, v in via.params if k.lower() != "branch")
        renewed = Via(
            via.transport, via.host, via.port, Params((*items, ("branch", branch))), via.protocol
        )
        out[index] = (name, ", ".join([str(renewed), *rest]))
        break
    return out
