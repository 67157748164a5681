"""The webhook signature: HMAC-SHA256 over the timestamp and the exact body bytes.

`Callgate-Signature: t=<unix seconds>,v1=<hex digest>` where the digest is
HMAC-SHA256(secret, f"{t}.".encode() + body). The timestamp is signed with the body so a captured
delivery cannot be replayed later with a fresh one; a receiver checks the digest in constant time
and that `t` is recent (`verify`'s tolerance). A retry is signed again, at its own time.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Callgate-Signature"
DEFAULT_TOLERANCE_S = 300


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str, body: bytes, header: str, now: float, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> bool:
    """True when `header` signs `body` with `secret` and its time is within `tolerance_s` of `now`."""
    fields: dict[str, str] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, value)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).rpartition("v1=")[2]
    return hmac.compare_digest(expected, fields.get("v1", ""))
