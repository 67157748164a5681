"""SDES: SRTP keys carried in SDP `a=crypto` lines (RFC 4568), for the two AES-CM suites we use.

Sans-I/O and small: parse a crypto attribute's value, write ours, make fresh keys. The grammar
(RFC 4568 §9.1) is written next to the code that reads it. What the offer/answer model does
with these lines is in `sdp.py`; what protects the packets is `rtp/srtp.py` (libsrtp).

Keys are secrets: `CryptoAttribute` and `SrtpKeys` leave them out of their reprs, and no error
raised here ever quotes the attribute's text (which holds the key), so a log line or a traceback
that shows one of them never shows a key.

We take one inline key per line, no MKI and no session parameters that change the transform
(UNENCRYPTED_SRTP, UNAUTHENTICATED_SRTP, a non-zero KDR, FEC_*): a line that asks for one of them
is not usable (`CryptoUnusable`), and the offer/answer code goes on to the offer's next line.
A key lifetime is accepted as written: a call would need 2^31 packets (about 500 days at 50 a
second) to reach the smallest lifetime peers send, and we never re-key.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = [
    "KEY_SALT_BYTES",
    "CryptoAttribute",
    "CryptoSuite",
    "CryptoUnusable",
    "MediaEncryption",
    "SrtpKeys",
]

# AES_CM_128_*: a 128-bit master key and a 112-bit master salt (RFC 4568 §6.2.1, .2).
KEY_SALT_BYTES: Final = 30
_MAX_TAG_DIGITS: Final = 9
# Session parameters (RFC 4568 §6.3) that only hint, or say what we do anyway: usable.
_HARMLESS_PARAMS: Final = ("WSH=", "KDR=0")


class MediaEncryption(StrEnum):
    """The trunk's `media_encryption` setting."""

    NONE = "none"
    """Plain RTP, as before SRTP existed: no a=crypto offered, any offered one ignored."""
    OPTIONAL = "optional"
    """Offer RTP/AVP with a=crypto lines (SRTP if the peer answers one, else plain RTP); answer
    an SRTP offer with SRTP and a plain one with plain RTP."""
    REQUIRED = "required"
    """Offer RTP/SAVP; refuse a plain offer (488) and fail a call whose answer has no usable key."""


class CryptoSuite(StrEnum):
    """The SRTP crypto suites we offer and accept (RFC 4568 §6.2), in our preference order."""

    AES_CM_128_HMAC_SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
    AES_CM_128_HMAC_SHA1_32 = "AES_CM_128_HMAC_SHA1_32"


class CryptoUnusable(ValueError):
    """An a=crypto line we cannot use; the message says why and never quotes the key."""


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """a=crypto:<tag> <crypto-suite> inline:<key||salt base64>, one key, no MKI."""

    tag: int
    suite: CryptoSuite
    key_salt: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.tag < 10**_MAX_TAG_DIGITS:
            raise CryptoUnusable(f"crypto tag {self.tag} out of range")
        if len(self.key_salt) != KEY_SALT_BYTES:
            raise CryptoUnusable(f"crypto tag {self.tag}: the key is not {KEY_SALT_BYTES} bytes")

    @classmethod
    def generate(cls, tag: int, suite: CryptoSuite) -> CryptoAttribute:
        """A fresh random master key and salt (from the OS's CSPRNG) under `tag`."""
        return cls(tag, suite, secrets.token_bytes(KEY_SALT_BYTES))

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        """The value after `a=crypto:`; CryptoUnusable when we cannot use it (reason given).

        crypto-attribute = "crypto:" tag 1*WSP crypto-suite 1*WSP key-params
                           *(1*WSP session-param)
        tag              = 1*9DIGIT
        key-params       = key-param *(";" key-param)
        key-param        = key-method ":" key-info        ; key-method = "inline" / ...
        srtp-key-info    = key-salt ["|" lifetime] ["|" mki]
        """
        parts = value.split()
        if len(parts) < 3:
            raise CryptoUnusable("crypto line needs a tag, a suite and key parameters")
        tag_text, suite_text, key_params, *session_params = parts
        if not tag_text.isdigit() or not 1 <= len(tag_text) <= _MAX_TAG_DIGITS:
            raise CryptoUnusable("crypto line with a malformed tag")
        tag = int(tag_text)
        try:
            suite = CryptoSuite(suite_text)
        except ValueError:
            # A suite name is an identifier, not a secret: naming it helps whoever reads the log.
            raise CryptoUnusable(
                f"crypto tag {tag}: suite {suite_text[:40]!r} not supported"
            ) from None
        for param in session_params:
            if not param.upper().startswith(_HARMLESS_PARAMS):
                name = param.split("=", 1)[0][:24]
                raise CryptoUnusable(f"crypto tag {tag}: session parameter {name!r} not supported")
        if ";" in key_params:
            raise CryptoUnusable(f"crypto tag {tag}: more than one key")
        method, colon, key_info = key_params.partition(":")
        if not colon or method.lower() != "inline":
            raise CryptoUnusable(f"crypto tag {tag}: only inline keys are supported")
        key_text, *rest = key_info.split("|")
        if len(rest) > 2 or any(":" in item for item in rest):
            raise CryptoUnusable(f"crypto tag {tag}: an MKI is not supported")
        if rest and not _lifetime_ok(rest[0]):
            raise CryptoUnusable(f"crypto tag {tag}: malformed key lifetime")
        try:
            key_salt = base64.b64decode(key_text, validate=True)
        except (binascii.Error, ValueError):
            raise CryptoUnusable(f"crypto tag {tag}: the key is not base64") from None
        return cls(tag, suite, key_salt)

    def attribute_value(self) -> str:
        """The value to write after `a=crypto:` (it holds the key: for the SDP body only)."""
        key = base64.b64encode(self.key_salt).decode("ascii")
        return f"{self.tag} {self.suite} inline:{key}"


def _lifetime_ok(text: str) -> bool:
    """lifetime = ["2^"] 1*(DIGIT)"""
    digits = text[2:] if text.startswith("2^") else text
    return digits.isdigit() and len(digits) <= 20


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """What one offer/answer settled for SRTP: the suite, the key we protect what we send with
    (ours, in our SDP) and the key we check what we receive with (the peer's, in its SDP)."""

    suite: CryptoSuite
    send_key: bytes = field(repr=False)
    receive_key: bytes = field(repr=False)
