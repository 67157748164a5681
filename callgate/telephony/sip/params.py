"""Header parameters: `*( SEMI generic-param )`, as carried by Via, From, To, Contact and others.

Parameters keep their wire text (a quoted value keeps its quotes) so a message re-serializes as
received; `Params.get` gives the value a reader means, with quotes and quoted-pairs resolved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .grammar import IPV6REFERENCE, QUOTED_STRING, SWS, TOKEN, GrammarError, is_token, unquote

__all__ = ["NO_PARAMS", "Params", "parse_params"]

#   generic-param  =  token [ EQUAL gen-value ]
#   gen-value      =  token / host / quoted-string
#   SEMI = SWS ";" SWS      EQUAL = SWS "=" SWS
# host's hostname and IPv4address forms are made of token characters, so only IPv6reference
# needs its own alternative; so does the bare IPv6address of via-received ("received" EQUAL
# (IPv4address / IPv6address)), tried first because token would stop at its first colon.
_BARE_IPV6 = r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?![A-Za-z0-9\-!%*_+`'~])"
_GEN_VALUE = rf"{_BARE_IPV6}|{TOKEN}|{IPV6REFERENCE}|{QUOTED_STRING}"
_GENERIC_PARAM_RE = re.compile(rf"{SWS};{SWS}({TOKEN})(?:{SWS}={SWS}({_GEN_VALUE}))?")
_TRAILING_SWS_RE = re.compile(SWS)


@dataclass(frozen=True, slots=True)
class Params:
    """An ordered list of `name[=value]` parameters; names compare case-insensitively."""

    items: tuple[tuple[str, str | None], ...] = ()

    def get(self, name: str) -> str | None:
        """The value of `name`: "" when present without a value, None when absent."""
        wanted = name.lower()
        for key, value in self.items:
            if key.lower() == wanted:
                if value is None:
                    return ""
                return unquote(value) if value.startswith('"') else value
        return None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __str__(self) -> str:
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.items)

    def with_param(self, name: str, value: str | None = None) -> Params:
        """A copy with `name` set (replacing an existing value); `value` must be a token."""
        if not is_token(name) or (value is not None and not is_token(value)):
            raise GrammarError(f"parameter {name}={value} is not token=token")
        kept = tuple((k, v) for k, v in self.items if k.lower() != name.lower())
        return Params((*kept, (name, value)))


NO_PARAMS = Params()


def parse_params(text: str, pos: int = 0) -> Params:
    """Parse `*( SEMI generic-param )` from `pos` to the end of `text` (trailing SWS allowed)."""
    items: list[tuple[str, str | None]] = []
    end = len(text)
    while pos < end:
        match = _GENERIC_PARAM_RE.match(text, pos)
        if match is None:
            trailing = _TRAILING_SWS_RE.match(text, pos)
            if trailing is not None and trailing.end() == end:
                break
            raise GrammarError(f"malformed parameter at {text[pos : pos + 40]!r}")
        items.append((match.group(1), match.group(2)))
        pos = match.end()
    return Params(tuple(items))
