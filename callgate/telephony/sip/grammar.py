"""RFC 3261 §25 ABNF as code: the lexical pieces every SIP header value is built from.

Each regex quotes the ABNF rule it implements. Header values reach this module already unfolded
(the framing layer replaces every CRLF+WSP fold with one SP, which RFC 3261 §7.3.1 says is
equivalent), so LWS and SWS here only ever have to match spaces and tabs.

Text is `str` decoded from UTF-8 with "surrogateescape": bytes that are not UTF-8 become lone
surrogates U+DC80..U+DCFF. They are accepted wherever UTF8-NONASCII is (quoted strings, comments,
unknown header values) so that Latin-1 display names from old equipment do not fail a call, and
they re-encode to the exact bytes received.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = [
    "GrammarError",
    "check_call_id",
    "check_host",
    "escape",
    "is_token",
    "parse_uint",
    "quote",
    "split_list",
    "unescape",
    "unquote",
]


class GrammarError(ValueError):
    """Text does not match the production it was parsed as. Callers add which header it was."""


# --- core rules ------------------------------------------------------------------------------

#   alphanum  =  ALPHA / DIGIT
ALPHANUM = "A-Za-z0-9"
#   mark        =  "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
MARK = r"\-_.!~*'()"
#   unreserved  =  alphanum / mark
UNRESERVED = ALPHANUM + MARK
#   escaped     =  "%" HEXDIG HEXDIG
ESCAPED = r"%[0-9A-Fa-f]{2}"

#   token       =  1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
#   word        =  1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
#                  "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}" )
WORD = r"""[A-Za-z0-9\-.!%*_+`'~()<>:\\"/\[\]?{}]+"""

#   LWS  =  [*WSP CRLF] 1*WSP      SWS  =  [LWS]      (unfolded: no CRLF is left)
LWS = r"[ \t]+"
SWS = r"[ \t]*"

#   UTF8-NONASCII = %xC0-DF 1UTF8-CONT / ... ; once decoded: any non-ASCII code point, plus the
#   lone surrogates that stand for undecodable bytes (see the module docstring).
NONASCII = "\u0080-\U0010ffff"

#   qdtext         =  LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
#   quoted-pair    =  "\" (%x00-09 / %x0B-0C / %x0E-7F)
#   quoted-string  =  SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
QUOTED_STRING = (
    r'"(?:[ \t\x21\x23-\x5b\x5d-\x7e' + NONASCII + r"]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*" + '"'
)

# --- hosts -----------------------------------------------------------------------------------

#   domainlabel    =  alphanum / alphanum *( alphanum / "-" ) alphanum
DOMAINLABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
#   toplabel       =  ALPHA / ALPHA *( alphanum / "-" ) alphanum
TOPLABEL = r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
#   hostname       =  *( domainlabel "." ) toplabel [ "." ]
HOSTNAME = rf"(?:{DOMAINLABEL}\.)*{TOPLABEL}\.?"
#   IPv4address    =  1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT
IPV4ADDRESS = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
#   IPv6reference  =  "[" IPv6address "]"
#   (hexpart / hexseq / hex4 are checked by `ipaddress`, which implements the same RFC 4291 text
#   form; this pattern only delimits the candidate)
IPV6ADDRESS = r"[0-9A-Fa-f:.]+"
IPV6REFERENCE = rf"\[{IPV6ADDRESS}\]"
#   host           =  hostname / IPv4address / IPv6reference
HOST = rf"(?:{IPV6REFERENCE}|{IPV4ADDRESS}|{HOSTNAME})"
#   port           =  1*DIGIT
PORT = r"[0-9]+"

_TOKEN_RE = re.compile(TOKEN)
_WORD_RE = re.compile(WORD)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_HOSTNAME_RE = re.compile(HOSTNAME)
_IPV4_RE = re.compile(IPV4ADDRESS)

ALPHANUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

# Numbers never need more digits than this; longer digit strings are rejected before int(), which
# would otherwise raise its own ValueError past 4300 digits and cost quadratic time before that.
_MAX_DIGITS = 20


def is_token(text: str) -> bool:
    """`token` as above."""
    return _TOKEN_RE.fullmatch(text) is not None


def check_call_id(text: str) -> str:
    """callid  =  word [ "@" word ]"""
    left, at, right = text.partition("@")
    if _WORD_RE.fullmatch(left) is None or (at and _WORD_RE.fullmatch(right) is None):
        raise GrammarError(f"not a Call-ID (word [@ word]): {text!r}")
    return text


def parse_uint(digits: str, limit: int, what: str) -> int:
    """1*DIGIT with an upper bound (RFC 3261 gives most scalars one: 2**32-1, 255, ...)."""
    if len(digits) < 10 and digits.isascii() and digits.isdigit():  # the usual case, quickly
        value = int(digits)
        if value > limit:
            raise GrammarError(f"{what} is out of range (over {limit}): {digits!r}")
        return value
    if not digits.isdigit() or not digits.isascii():
        raise GrammarError(f"{what} is not a number: {digits!r}")
    significant = digits.lstrip("0")
    if len(significant) > _MAX_DIGITS or int(significant or "0") > limit:
        raise GrammarError(f"{what} is out of range (over {limit}): {digits[:40]!r}")
    return int(significant or "0")


def check_host(text: str) -> str:
    """host  =  hostname / IPv4address / IPv6reference

    IPv4 octets above 255 are refused (RFC 5954 corrects the 1*3DIGIT rule to dec-octet).
    """
    if text.startswith("["):
        if not text.endswith("]"):
            raise GrammarError(f"unterminated IPv6 reference: {text!r}")
        check_ipv6(text[1:-1])
        return text
    if _HOSTNAME_RE.fullmatch(text) is not None:
        return text
    if _IPV4_RE.fullmatch(text):
        if max(map(int, text.split("."))) > 255:
            raise GrammarError(f"IPv4 octet over 255: {text!r}")
        return text
    raise GrammarError(f"not a host name or address: {text!r}")


def check_ipv6(text: str) -> str:
    """IPv6address  =  hexpart [ ":" IPv4address ]  (zone identifiers are not SIP syntax)."""
    if not text or any(c not in "0123456789abcdefABCDEF:." for c in text):
        raise GrammarError(f"not an IPv6 address: {text!r}")
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise GrammarError(f"not an IPv6 address: {text!r}") from None
    return text


def unquote(quoted: str) -> str:
    """The text a `quoted-string` stands for: outer quotes gone, each quoted-pair resolved."""
    inner = quoted[1:-1]
    return _QUOTED_PAIR_RE.sub(r"\1", inner) if "\\" in inner else inner


def quote(text: str) -> str:
    """Write `text` as a quoted-string. CR and LF cannot be quoted (quoted-pair excludes them)."""
    if "\r" in text or "\n" in text:
        raise GrammarError("a quoted string cannot carry CR or LF")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unescape(text: str) -> str:
    """Resolve each `escaped` (%HH) once. Never recursively: "%2541" is "%41" (RFC 4475 §3.1.1.3).

    Decoded bytes that are not UTF-8 come back as lone surrogates, so `escape` can restore them.
    """
    if "%" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25 and _is_hex2(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(byte)
            i += 1
    return out.decode("utf-8", "surrogateescape")


def _is_hex2(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def escape(text: str, allowed: str) -> str:
    """Percent-escape every byte of `text` that is not unreserved or in `allowed`."""
    safe = set(ALPHANUM_CHARS + "-_.!~*'()" + allowed)  # unreserved + allowed
    if all(c in safe for c in text):
        return text
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        out.append(char if byte < 0x80 and char in safe else f"%{byte:02X}")
    return "".join(out)


def split_list(value: str) -> list[str]:
    """Split a list header's value at the commas that separate its elements.

    RFC 3261 §7.3.1: `field-name: value *(COMMA value)`. A comma inside a quoted-string or
    between < and > belongs to the element, not the list. Empty elements (",,") are an error:
    SIP's `*(COMMA x)` has none of HTTP's `#rule` leniency (RFC 4475 §3.1.2.1).
    """
    if "," not in value:
        return [value.strip(" \t")]
    parts: list[str] = []
    start = 0
    in_quotes = in_angle = escaped = False
    for i, char in enumerate(value):
        if in_quotes:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif in_angle:
            in_angle = char != ">"
        elif char == "<":
            in_angle = True
        elif char == ",":
            parts.append(value[start:i].strip(" \t"))
            start = i + 1
    if in_quotes:
        raise GrammarError("unterminated quoted string")
    parts.append(value[start:].strip(" \t"))
    if any(not part for part in parts):
        raise GrammarError("empty element in a comma-separated list")
    return parts
