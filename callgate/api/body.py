"""Reading a request's JSON body: every way a body can be wrong becomes a 4xx envelope, never a 500.

The endpoints' bodies are small flat objects, so the limits are tight:
- Content-Type `application/json`, with no charset or `charset=utf-8` (415 otherwise: a form, text
  or multipart body is not silently read as JSON). A request without a Content-Type is read as
  JSON, as the endpoint documents;
- the body in UTF-8 without a byte order mark (400), as RFC 8259 section 8.1 requires: the
  decoder would otherwise guess UTF-16 or UTF-32 from the first bytes;
- at most `MAX_BODY_BYTES` (413): a declared Content-Length over it is refused before reading,
  and a streamed body is read only until it passes the limit, so a 100 MB upload costs 4 KB;
- nested at most `MAX_DEPTH` arrays/objects deep (400): Python's JSON decoder recurses per level
  and a 2 KB body of 1,000 `[` would otherwise end in a RecursionError.
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.requests import Request

from callgate.api.envelope import ApiError

MAX_BODY_BYTES: Final = 4096
MAX_DEPTH: Final = 32
NOT_AN_OBJECT: Final = "Request body must be a JSON object"
NOT_UTF8: Final = "Request body must be JSON in UTF-8, without a byte order mark"
MAX_SHOWN: Final = 60  # characters of a client's header that a message repeats

_OPENERS: Final = frozenset(b"[{")
_CLOSERS: Final = frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


async def json_object(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object, or an `ApiError` saying what to send instead."""
    check_content_type(request.headers.get("content-type"))
    return parse_object(await read_limited(request))


def check_content_type(header: str | None) -> None:
    if header is None:
        return
    media_type, *params = (part.strip() for part in header.split(";"))
    charsets = [
        value.strip().strip('"').lower()
        for name, sep, value in (param.partition("=") for param in params)
        if sep and name.strip().lower() == "charset"
    ]
    if media_type.lower() != "application/json" or any(c != "utf-8" for c in charsets):
        shown = header if len(header) <= MAX_SHOWN else header[: MAX_SHOWN - 3] + "..."
        raise ApiError(415, f"Content-Type must be application/json (UTF-8), got {shown!r}")


async def read_limited(request: Request, limit_bytes: int = MAX_BODY_BYTES) -> bytes:
    too_large = ApiError(413, f"Request body is larger than {limit_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared[:20]) > limit_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit_bytes:
            raise too_large
    return bytes(body)


def parse_object(body: bytes) -> dict[str, Any]:
    if nesting_depth(body) > MAX_DEPTH:
        raise ApiError(400, f"Request body is nested more than {MAX_DEPTH} levels deep")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, NOT_UTF8) from None
    # JSON never holds a raw NUL; UTF-16 and UTF-32 text of ASCII is full of them.
    if text.startswith("\ufeff") or "\x00" in text:
        raise ApiError(400, NOT_UTF8)
    try:
        value = json.loads(text)
    except ValueError:
        raise ApiError(400, NOT_AN_OBJECT) from None
    if not isinstance(value, dict):
        raise ApiError(400, NOT_AN_OBJECT)
    return value


def nesting_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in `body`, brackets inside strings not counted.

    Counts on bytes whatever their encoding: in UTF-8 the bytes of `[{]}"\\` never occur inside a
    multi-byte character, and a body in another encoding is refused by the decoder anyway.
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSERS:
            depth -= 1
    return deepest
