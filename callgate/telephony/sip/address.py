"""Addresses: name-addr / addr-spec with display names and parameters (From, To, Contact, Route).

    from-spec    =  ( name-addr / addr-spec ) *( SEMI from-param )
    name-addr    =  [ display-name ] LAQUOT addr-spec RAQUOT
    addr-spec    =  SIP-URI / SIPS-URI / absoluteURI
    display-name =  *(token LWS) / quoted-string

Without angle brackets every ";" after the URI starts a header parameter (RFC 3261 §20.10), and a
URI holding a comma, semicolon or question mark must be bracketed (§20), so an unbracketed
addr-spec ends at the first ";" and may not contain "?" or "," (RFC 4475 §3.1.2.13, regbadct).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .grammar import LWS, QUOTED_STRING, SWS, TOKEN, GrammarError, quote, split_list, unquote
from .params import NO_PARAMS, Params, parse_params
from .uri import Uri, parse_uri

__all__ = ["NameAddr", "parse_address", "parse_address_list"]

#   LDQUOT  =  SWS DQUOTE          quoted display name
_QUOTED_DISPLAY_RE = re.compile(rf"{SWS}({QUOTED_STRING}){SWS}<")
#   *(token LWS) LAQUOT            token display name; LAQUOT = SWS "<". The LWS before "<" is
#   optional here: RFC 4475 §3.1.1.6 (lwsdisp) calls requiring it a specification bug.
_TOKEN_DISPLAY_RE = re.compile(rf"{SWS}((?:{TOKEN}(?:{LWS}{TOKEN})*)?){SWS}<")
_LEADING_SWS_RE = re.compile(SWS)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """An address with an optional display name (unescaped text) and header parameters."""

    uri: Uri
    display_name: str | None = None
    params: Params = NO_PARAMS

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        return NameAddr(self.uri, self.display_name, self.params.with_param("tag", tag))

    def __str__(self) -> str:
        # Always bracketed: that form is valid for every URI, the bare one is not.
        prefix = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{prefix}<{self.uri}>{self.params}"


def parse_address(text: str, *, bracketed_only: bool = False) -> NameAddr:
    """( name-addr / addr-spec ) *( SEMI generic-param ); `bracketed_only` for Route-style rules."""
    display: str | None = None
    match = _QUOTED_DISPLAY_RE.match(text)
    if match is not None:
        display = unquote(match.group(1))
    else:
        match = _TOKEN_DISPLAY_RE.match(text)
        if match is not None and match.group(1):
            display = match.group(1)

    if match is not None:
        close = text.find(">", match.end())
        if close < 0:
            raise GrammarError("missing '>' after '<'")
        uri = parse_uri(text[match.end() : close])
        return NameAddr(uri, display, parse_params(text, close + 1))

    if bracketed_only:
        raise GrammarError("a name-addr (<URI>) is required here")
    start = _LEADING_SWS_RE.match(text)
    pos = 0 if start is None else start.end()
    semi = text.find(";", pos)
    end = len(text) if semi < 0 else semi
    uri_text = text[pos:end].rstrip(" \t")
    if "?" in uri_text or "," in uri_text:
        raise GrammarError("a URI with '?' or ',' must be enclosed in <>")
    if text.startswith('"', pos):
        raise GrammarError("unterminated quoted display name")
    return NameAddr(parse_uri(uri_text), None, parse_params(text, end))


def parse_address_list(value: str, *, bracketed_only: bool = False) -> tuple[NameAddr, ...]:
    """1#address, as in Contact, Route and Record-Route."""
    return tuple(parse_address(item, bracketed_only=bracketed_only) for item in split_list(value))
