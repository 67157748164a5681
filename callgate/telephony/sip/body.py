"""Message bodies: multipart splitting (RFC 2046 §5.1, RFC 5621) and finding the SDP.

A carrier may send SDP alone or inside multipart/mixed next to, say, an ISUP part (SIP-I); the
session layer only wants the SDP, and the UAS check wants every part's type and handling.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import MediaType, parse_media_type
from .grammar import GrammarError
from .params import parse_params

__all__ = ["MULTIPART_TYPES", "SDP", "BodyPart", "body_parts", "find_sdp"]

SDP = "application/sdp"
MULTIPART_TYPES = frozenset({"multipart/mixed", "multipart/alternative", "multipart/related"})
_MAX_PARTS = 16  # bounded: a body of a thousand empty parts is not a session description
_MAX_PART_HEADERS = 16


@dataclass(frozen=True, slots=True)
class BodyPart:
    """One part: its type (None when absent), Content-Disposition handling, and bytes.

    RFC 3261 §20.11: handling defaults to "required"; "optional" parts may be ignored when not
    understood.
    """

    media_type: MediaType | None
    handling: str
    content: bytes

    @property
    def mime(self) -> str | None:
        return None if self.media_type is None else self.media_type.mime


def body_parts(
    body: bytes, media_type: MediaType | None, disposition: str | None = None
) -> tuple[BodyPart, ...]:
    """The parts of a body: itself for a simple type, its parts (one level) for multipart/*.

    Raises GrammarError for a multipart body that does not follow its boundary.
    """
    if media_type is None or media_type.mime not in MULTIPART_TYPES:
        return (BodyPart(media_type, _handling(disposition), body),)
    boundary = media_type.params.get("boundary")
    if not boundary or len(boundary) > 70:
        raise GrammarError("multipart body without a usable boundary")
    delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
    # RFC 2046: the first delimiter may open the body; later ones follow a CRLF.
    text = b"\r\n" + body
    pieces = text.split(b"\r\n" + delimiter)
    if len(pieces) < 3:
        raise GrammarError("multipart body has no complete part")
    parts: list[BodyPart] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # close-delimiter; what follows is the epilogue
        if len(parts) >= _MAX_PARTS:
            raise GrammarError(f"more than {_MAX_PARTS} body parts")
        # The rest of the delimiter line (transport padding) ends at the first CRLF.
        line_end = piece.find(b"\r\n")
        if line_end < 0 or piece[:line_end].strip(b" \t"):
            raise GrammarError("malformed multipart delimiter line")
        parts.append(_parse_part(piece[line_end + 2 :]))
    else:
        raise GrammarError("multipart body has no close-delimiter")
    return tuple(parts)


def _parse_part(piece: bytes) -> BodyPart:
    if piece.startswith(b"\r\n"):
        head, content = b"", piece[2:]
    else:
        end = piece.find(b"\r\n\r\n")
        if end < 0:
            raise GrammarError("body part without an empty line after its headers")
        head, content = piece[:end], piece[end + 4 :]
    media_type: MediaType | None = None
    disposition: str | None = None
    lines = head.decode("utf-8", "surrogateescape").split("\r\n") if head else []
    if len(lines) > _MAX_PART_HEADERS:
        raise GrammarError("too many body part header lines")
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise GrammarError(f"malformed body part header {line[:40]!r}")
        key = name.strip(" \t").lower()
        if key in ("content-type", "c"):
            media_type = parse_media_type(value.strip(" \t"))
        elif key == "content-disposition":
            disposition = value.strip(" \t")
    return BodyPart(media_type, _handling(disposition), content)


def _handling(disposition: str | None) -> str:
    """Content-Disposition's handling parameter, "required" by default (RFC 3261 §20.11)."""
    if not disposition:
        return "required"
    _, semi, rest = disposition.partition(";")
    if not semi:
        return "required"
    try:
        handling = parse_params(";" + rest).get("handling")
    except GrammarError:
        return "required"
    return (handling or "required").lower()


def find_sdp(
    body: bytes, media_type: MediaType | None, disposition: str | None = None
) -> bytes | None:
    """The SDP in a body (alone or as a multipart part), or None. Never raises."""
    try:
        parts = body_parts(body, media_type, disposition)
    except GrammarError:
        return None
    for part in parts:
        if part.mime == SDP:
            return part.content
    return None
