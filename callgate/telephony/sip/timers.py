"""SIP timer settings (RFC 3261 §17.1.1.1, Table 4; RFC 6026 Timers L and M), from configuration.

T1 is the round-trip estimate, T2 the cap on non-INVITE and response retransmission intervals,
T4 how long the network may hold a message. Every transaction timer derives from these three:

    A  T1, doubling           INVITE request retransmission      unreliable transports only
    B  64*T1                  INVITE client gives up
    D  `timer_d_s` (>= 32 s)  INVITE client absorbs response retransmissions; 0 on reliable
    E  T1, doubling to T2     non-INVITE request retransmission  unreliable transports only
    F  64*T1                  non-INVITE client gives up
    G  T1, doubling to T2     INVITE final response retransmission  unreliable only
    H  64*T1                  INVITE server waits for the ACK
    I  T4                     INVITE server absorbs ACK retransmissions; 0 on reliable
    J  64*T1                  non-INVITE server absorbs request retransmissions; 0 on reliable
    K  T4                     non-INVITE client absorbs response retransmissions; 0 on reliable
    L  64*T1                  INVITE server stays Accepted (RFC 6026)
    M  64*T1                  INVITE client stays Accepted (RFC 6026)

Nothing here reads a clock: these are durations. Engines add them to the `now` they are given.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_TIMERS", "SipTimers"]


@dataclass(frozen=True, slots=True)
class SipTimers:
    """T1, T2, T4 and the two knobs RFC 3261 leaves to the implementation, in seconds."""

    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0
    # Timer D: "at least 32 seconds" on unreliable transports (§17.1.1.2).
    timer_d_s: float = 32.0
    # An INVITE server sends 100 Trying itself when the TU has sent no provisional response this
    # long after the INVITE arrived (§17.2.1 says 200 ms). 0 sends it at once; None never.
    trying_s: float | None = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.t1_s <= self.t2_s:
            raise ValueError(f"need 0 < T1 <= T2, got T1={self.t1_s} T2={self.t2_s}")
        if self.t4_s <= 0 or self.timer_d_s < 0:
            raise ValueError("T4 must be positive and Timer D not negative")
        if self.trying_s is not None and self.trying_s < 0:
            raise ValueError("trying_s must be None or >= 0")

    @property
    def transaction_timeout_s(self) -> float:
        """64*T1: Timers B, F, H, L, M, and how long §9.1 waits for a CANCELled INVITE's answer."""
        return 64 * self.t1_s


DEFAULT_TIMERS = SipTimers()
