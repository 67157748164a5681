"""SIP and SIPS URIs (RFC 3261 §19.1, §25) and the absoluteURI form every other scheme takes.

Components are kept exactly as written on the wire (escapes included), so a URI echoed back in a
Route set or Contact is byte-identical; the `*_text` accessors and `param()` / `header()` give the
unescaped meaning, which is what RFC 4475 §3.1.1.3 says an application must compare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .grammar import ESCAPED, UNRESERVED, GrammarError, check_host, escape, parse_uint, unescape

__all__ = ["AbsoluteUri", "SipUri", "Uri", "parse_uri"]

#   scheme         =  ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
#   user             =  1*( unreserved / escaped / user-unreserved )
#   user-unreserved  =  "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
_USER_RE = re.compile(rf"(?:[{UNRESERVED}&=+$,;?/]|{ESCAPED})+")
#   password         =  *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD_RE = re.compile(rf"(?:[{UNRESERVED}&=+$,]|{ESCAPED})*")
#   pname / pvalue    =  1*paramchar
#   paramchar         =  param-unreserved / unreserved / escaped
#   param-unreserved  =  "[" / "]" / "/" / ":" / "&" / "+" / "$"
_PARAMCHARS_RE = re.compile(rf"(?:[{UNRESERVED}\[\]/:&+$]|{ESCAPED})+")
#   hname           =  1*( hnv-unreserved / unreserved / escaped )
#   hvalue          =  *( hnv-unreserved / unreserved / escaped )
#   hnv-unreserved  =  "[" / "]" / "/" / "?" / ":" / "+" / "$"
_HNAME_RE = re.compile(rf"(?:[{UNRESERVED}\[\]/?:+$]|{ESCAPED})+")
_HVALUE_RE = re.compile(rf"(?:[{UNRESERVED}\[\]/?:+$]|{ESCAPED})*")
#   absoluteURI    =  scheme ":" ( hier-part / opaque-part )
#   (both alternatives are runs of uric = reserved / unreserved / escaped; hier-part may start
#   with "/", opaque-part may not, which the second character class below allows either way)
_URIC_RE = re.compile(rf"(?:[{UNRESERVED};/?:@&=+$,]|{ESCAPED})+")

_USER_SAFE = "&=+$,;?/"
_PASSWORD_SAFE = "&=+$,"
_PARAM_SAFE = "[]/:&+$"
_HEADER_SAFE = "[]/?:+$"


@dataclass(frozen=True, slots=True)
class SipUri:
    """SIP-URI / SIPS-URI:  "sip:" [ userinfo ] hostport uri-parameters [ headers ]"""

    host: str
    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def build(
        cls,
        host: str,
        *,
        user: str | None = None,
        port: int | None = None,
        params: tuple[tuple[str, str | None], ...] = (),
        scheme: str = "sip",
    ) -> SipUri:
        """A URI from plain text parts, escaping what `user` and parameters cannot carry."""
        check_host(host)
        if port is not None and not 0 <= port <= 65535:
            raise GrammarError(f"port {port} out of range")
        if scheme not in ("sip", "sips"):
            raise GrammarError(f"{scheme!r} is not sip or sips")
        return cls(
            host=host,
            scheme=scheme,
            user=None if user is None else escape(user, _USER_SAFE),
            port=port,
            params=tuple(
                (escape(k, _PARAM_SAFE), None if v is None else escape(v, _PARAM_SAFE))
                for k, v in params
            ),
        )

    @property
    def user_text(self) -> str | None:
        """The user part with escapes resolved (RFC 4475 §3.1.1.10: "user;par=u@example.net")."""
        return None if self.user is None else unescape(self.user)

    @property
    def password_text(self) -> str | None:
        return None if self.password is None else unescape(self.password)

    def param(self, name: str) -> str | None:
        """A uri-parameter's unescaped value ("" if it has none); names are case-insensitive."""
        wanted = name.lower()
        for key, value in self.params:
            if unescape(key).lower() == wanted:
                return "" if value is None else unescape(value)
        return None

    def header(self, name: str) -> str | None:
        """An embedded header's unescaped value (`?Route=%3Csip:x%3E` gives "<sip:x>")."""
        wanted = name.lower()
        for key, value in self.headers:
            if unescape(key).lower() == wanted:
                return unescape(value)
        return None

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return None if value is None else value.lower()

    @property
    def lr(self) -> bool:
        """Loose routing (RFC 3261 §16.12)."""
        return self.param("lr") is not None

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += [":", self.password]
            parts.append("@")
        parts.append(self.hostport)
        for key, value in self.params:
            parts += [";", key] if value is None else [";", key, "=", value]
        if self.headers:
            parts += ["?", "&".join(f"{k}={v}" for k, v in self.headers)]
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any other scheme (tel:, soap.beep:, isbn: ...): `scheme ":" ( hier-part / opaque-part )`.

    SIP carries these opaquely; whether they mean anything is the application's call (416).
    """

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Request-URI / addr-spec  =  SIP-URI / SIPS-URI / absoluteURI"""
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME_RE.fullmatch(scheme) is None:
        raise GrammarError(f"not a URI (no scheme): {text[:60]!r}")
    lowered = scheme.lower()
    if lowered in ("sip", "sips"):
        return _parse_sip_uri(lowered, rest)
    if _URIC_RE.fullmatch(rest) is None:
        raise GrammarError(f"not an absoluteURI: {text[:60]!r}")
    return AbsoluteUri(scheme=lowered, rest=rest)


def _parse_sip_uri(scheme: str, rest: str) -> SipUri:
    # "@" cannot appear unescaped after the userinfo (params and headers exclude it), so the
    # first one ends the userinfo even when the user part holds "?" or ";" (RFC 4475 §3.1.1.2).
    user: str | None = None
    password: str | None = None
    userinfo, at, tail = rest.partition("@")
    if at:
        user_part, colon, password_part = userinfo.partition(":")
        if _USER_RE.fullmatch(user_part) is None:
            raise GrammarError(f"bad user part in SIP URI: {user_part[:60]!r}")
        user = user_part
        if colon:
            if _PASSWORD_RE.fullmatch(password_part) is None:
                raise GrammarError("bad password in SIP URI")
            password = password_part
    else:
        tail = rest

    tail, question, headers_text = tail.partition("?")
    hostport, *param_texts = tail.split(";")
    host, port = _split_hostport(hostport)

    params: list[tuple[str, str | None]] = []
    for item in param_texts:
        name, equals, value = item.partition("=")
        if _PARAMCHARS_RE.fullmatch(name) is None or (
            equals and _PARAMCHARS_RE.fullmatch(value) is None
        ):
            raise GrammarError(f"bad uri-parameter {item[:60]!r}")
        params.append((name, value if equals else None))

    headers: list[tuple[str, str]] = []
    if question:
        #   headers  =  "?" header *( "&" header )      header  =  hname "=" hvalue
        for item in headers_text.split("&"):
            name, equals, value = item.partition("=")
            if not equals or _HNAME_RE.fullmatch(name) is None:
                raise GrammarError(f"bad URI header {item[:60]!r}")
            if _HVALUE_RE.fullmatch(value) is None:
                raise GrammarError(f"bad URI header value {item[:60]!r}")
            headers.append((name, value))

    return SipUri(
        host=host,
        scheme=scheme,
        user=user,
        password=password,
        port=port,
        params=tuple(params),
        headers=tuple(headers),
    )


def _split_hostport(hostport: str) -> tuple[str, int | None]:
    """hostport  =  host [ ":" port ]"""
    if hostport.startswith("["):
        close = hostport.find("]")
        host, after = hostport[: close + 1], hostport[close + 1 :]
        if close < 0 or (after and not after.startswith(":")):
            raise GrammarError(f"bad IPv6 reference {hostport[:60]!r}")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if colon else None
    check_host(host)
    port = None if port_text is None else parse_uint(port_text, 65535, "port")
    return host, port
