"""SRTP and SRTCP protection for one call (RFC 3711), done by libsrtp through `pylibsrtp`.

No cipher code of ours: this module only chooses libsrtp's profile for a suite name, holds one
libsrtp session per direction, and turns libsrtp's errors into what the media path does with
them. A packet that fails authentication or the replay check is dropped and counted (a forged,
replayed or corrupted packet must never reach the jitter buffer); a packet that cannot be
protected is not sent.

Two objects, not one, because the two directions change independently: a re-INVITE may bring
the peer's new key while ours stays, and our sending context must then keep its rollover
counter (a fresh context would restart it at 0, which the peer's receiver would reject once our
sequence numbers have wrapped).

Keys never appear in a repr or an exception: libsrtp holds its copy, these objects keep none.
Sans-I/O: bytes in, bytes out.
"""

from __future__ import annotations

from typing import Final

import pylibsrtp

__all__ = ["SRTP_SUITES", "SrtpReceiver", "SrtpSender"]

# RFC 4568 suite name -> libsrtp profile (RFC 3711's AES-CM with HMAC-SHA1, 80- or 32-bit tag).
SRTP_SUITES: Final = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}


def _session(suite: str, key_salt: bytes, ssrc_type: int) -> pylibsrtp.Session:
    profile = SRTP_SUITES.get(suite)
    if profile is None:
        raise ValueError(f"SRTP suite {suite!r} not supported")
    try:
        policy = pylibsrtp.Policy(key=key_salt, ssrc_type=ssrc_type, srtp_profile=profile)
        return pylibsrtp.Session(policy)
    except (pylibsrtp.Error, ValueError, TypeError) as exc:
        # pylibsrtp's messages name lengths, never the key; still, say it in our own words.
        raise ValueError(f"SRTP {suite}: the key was refused ({type(exc).__name__})") from None


class SrtpSender:
    """Protects what we send: RTP (`protect`) and RTCP (`protect_rtcp`), with our key."""

    __slots__ = ("_session", "failed", "suite")

    def __init__(self, suite: str, key_salt: bytes) -> None:
        self.suite = suite
        self._session = _session(suite, key_salt, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        self.failed = 0
        """Packets libsrtp would not protect (not sent)."""

    def __repr__(self) -> str:
        return f"SrtpSender({self.suite})"

    def protect(self, packet: bytes) -> bytes | None:
        """The SRTP packet, or None when libsrtp refuses (a malformed or oversized packet)."""
        try:
            return self._session.protect(packet)
        except (pylibsrtp.Error, ValueError):
            self.failed += 1
            return None

    def protect_rtcp(self, packet: bytes) -> bytes | None:
        try:
            return self._session.protect_rtcp(packet)
        except (pylibsrtp.Error, ValueError):
            self.failed += 1
            return None


class SrtpReceiver:
    """Checks and decrypts what we receive, with the peer's key; any SSRC the peer uses."""

    __slots__ = ("_session", "rejected", "suite")

    def __init__(self, suite: str, key_salt: bytes) -> None:
        self.suite = suite
        self._session = _session(suite, key_salt, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        self.rejected = 0
        """Packets dropped: failed authentication, replayed, or not SRTP at all."""

    def __repr__(self) -> str:
        return f"SrtpReceiver({self.suite}, rejected={self.rejected})"

    def unprotect(self, packet: bytes) -> bytes | None:
        """The RTP packet, or None (counted in `rejected`) when it is not authentic."""
        try:
            return self._session.unprotect(packet)
        except (pylibsrtp.Error, ValueError):
            self.rejected += 1
            return None

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        try:
            return self._session.unprotect_rtcp(packet)
        except (pylibsrtp.Error, ValueError):
            self.rejected += 1
            return None
