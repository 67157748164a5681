"""Session timers (RFC 4028): keep-alive of a dialog by periodic refresh, and its end when none comes.

Sans-I/O: header values in, header values and deadlines out; time is the caller's `now`.

Negotiation. The request that carries an offer (INVITE, re-INVITE, UPDATE) may say
`Session-Expires: <delta>[;refresher=uac|uas]`, `Min-SE: <delta>` and `Supported: timer`; the 2xx
settles the interval and who refreshes, "uac" and "uas" naming the roles in *that* transaction.

- As UAC (`request_headers`, `settled_by_response`): we ask for our interval with `Supported:
  timer`; the 2xx's Session-Expires is the deal (none: no timer, §7.2). A 422 carries the
  peer's Min-SE: we retry once with it (`retry_interval`).
- As UAS (`answer_request`): an interval below our `min_se_s` gets 422 with our Min-SE when the
  UAC supports timers (§8.1); otherwise we raise it to our minimum. The refresher is the
  request's choice, else the UAC when it supports timers, else us (§9). A request without
  Session-Expires still gets our interval when we want a timer (refresher as above).

Running (`SessionTimer`): the refresher refreshes at half the interval (§10); the session
expires, and the side that notices sends BYE, at interval - min(32, interval / 3) (§10).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .message import SipMessage

__all__ = [
    "MIN_SE_FLOOR_S",
    "TIMER_TAG",
    "Refresher",
    "SessionExpires",
    "SessionTimer",
    "Settled",
    "TimerAnswer",
    "TooSmall",
    "answer_request",
    "parse_min_se",
    "parse_session_expires",
    "request_headers",
    "retry_interval",
    "settled_by_response",
]

TIMER_TAG: Final = "timer"
MIN_SE_FLOOR_S: Final = 90
"""RFC 4028 §4: no Min-SE below 90 seconds."""
_MAX_DELTA: Final = 2**32 - 1  # §4: delta-seconds


class Refresher(StrEnum):
    UAC = "uac"
    UAS = "uas"


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """Session-Expires: <interval_s>[;refresher=uac|uas]"""

    interval_s: int
    refresher: Refresher | None = None

    def __str__(self) -> str:
        if self.refresher is None:
            return str(self.interval_s)
        return f"{self.interval_s};refresher={self.refresher}"


def _delta(text: str) -> int | None:
    text = text.strip()
    if not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= _MAX_DELTA else None


def parse_session_expires(message: SipMessage) -> SessionExpires | None:
    """The message's Session-Expires, or None when absent or unreadable."""
    value = message.get("Session-Expires")
    if value is None:
        return None
    interval, *params = value.split(";")
    seconds = _delta(interval)
    if seconds is None:
        return None
    refresher = None
    for param in params:
        name, _, setting = param.partition("=")
        if name.strip().lower() == "refresher":
            choice = setting.strip().lower()
            refresher = Refresher(choice) if choice in ("uac", "uas") else None
    return SessionExpires(seconds, refresher)


def parse_min_se(message: SipMessage) -> int | None:
    value = message.get("Min-SE")
    if value is None:
        return None
    return _delta(value.split(";", 1)[0])


def _supports_timer(message: SipMessage) -> bool:
    return TIMER_TAG in {tag.lower() for tag in message.supported}


def request_headers(
    interval_s: int, min_se_s: int, *, refresher: Refresher | None = None
) -> tuple[tuple[str, str], ...]:
    """Session-Expires and Min-SE for a request of ours (Supported: timer goes with them)."""
    return (
        ("Session-Expires", str(SessionExpires(interval_s, refresher))),
        ("Min-SE", str(min_se_s)),
    )


def retry_interval(refusal: SipMessage, asked_s: int) -> int | None:
    """After a 422 to our request: the interval to ask for next, or None when the 422 names no
    Min-SE above what we asked (retrying would only get the same answer)."""
    wanted = parse_min_se(refusal)
    if wanted is None or wanted <= asked_s:
        return None
    return wanted


@dataclass(frozen=True, slots=True)
class Settled:
    """The session timer a transaction settled: its interval, and whether we refresh."""

    interval_s: int
    we_refresh: bool


def settled_by_response(response: SipMessage) -> Settled | None:
    """What a 2xx to our request settles (we were its UAC); None: no session timer."""
    expires = parse_session_expires(response)
    if expires is None:
        return None
    # §7.2: a 2xx without refresher (from an RFC 4028 UAS that leaves it to us) means we refresh.
    return Settled(expires.interval_s, expires.refresher is not Refresher.UAS)


@dataclass(frozen=True, slots=True)
class TooSmall:
    """Refuse with 422 and these headers (Min-SE)."""

    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class TimerAnswer:
    """Accept: the headers for our 2xx, and the timer it settles (None: no session timer)."""

    headers: tuple[tuple[str, str], ...]
    settled: Settled | None


def answer_request(request: SipMessage, interval_s: int, min_se_s: int) -> TooSmall | TimerAnswer:
    """Our side as UAS of `request` (§8, §9). `interval_s` 0: we want no timer of our own."""
    asked = parse_session_expires(request)
    supported = _supports_timer(request)
    if asked is None:
        if interval_s <= 0:
            return TimerAnswer((), None)
        chosen = max(interval_s, min_se_s, parse_min_se(request) or 0)
        refresher = Refresher.UAC if supported else Refresher.UAS
    else:
        chosen = asked.interval_s
        if chosen < min_se_s:
            if supported:
                return TooSmall((("Min-SE", str(min_se_s)),))
            chosen = min_se_s  # §8.1: a proxy asked for the UAC, which cannot retry
        if interval_s > 0:
            chosen = min(chosen, max(interval_s, min_se_s))  # §9: we may shorten it
        refresher = asked.refresher or (Refresher.UAC if supported else Refresher.UAS)
        if refresher is Refresher.UAC and not supported:
            refresher = Refresher.UAS  # it cannot refresh what it does not know
    headers: list[tuple[str, str]] = [("Session-Expires", str(SessionExpires(chosen, refresher)))]
    if refresher is Refresher.UAC:
        headers.append(("Require", TIMER_TAG))  # §9: the UAC must know it refreshes
    return TimerAnswer(tuple(headers), Settled(chosen, refresher is Refresher.UAS))


class SessionTimer:
    """One dialog's running session timer: when to refresh (if we do) and when it expires."""

    def __init__(self, settled: Settled, now: float) -> None:
        self.interval_s = settled.interval_s
        self.we_refresh = settled.we_refresh
        self.refresh_at: float | None = None
        self.expire_at = 0.0
        self.restart(settled, now)

    def restart(self, settled: Settled, now: float) -> None:
        """A refresh succeeded (either side's): count the interval from `now`."""
        self.interval_s = settled.interval_s
        self.we_refresh = settled.we_refresh
        self.refresh_at = now + self.interval_s / 2 if self.we_refresh else None
        self.expire_at = now + self.interval_s - min(32.0, self.interval_s / 3)

    def postpone_refresh(self, at: float) -> None:
        """Try the refresh again at `at` (after a 491, or an offer in progress)."""
        self.refresh_at = min(at, self.expire_at)

    def refresh_sent(self) -> None:
        self.refresh_at = None  # until its answer restarts the timer

    @property
    def next_deadline(self) -> float:
        return self.expire_at if self.refresh_at is None else min(self.refresh_at, self.expire_at)

    def refresh_due(self, now: float) -> bool:
        return self.refresh_at is not None and now >= self.refresh_at

    def expired(self, now: float) -> bool:
        return now >= self.expire_at
