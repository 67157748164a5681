"""Where an account's call events go: `[[webhook]]` tables in the config file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

EVENTS: Final = ("call.started", "call.answered", "call.transferred", "call.ended")
DEFAULT_EVENTS: Final = ("call.started", "call.answered", "call.ended")
"""What an endpoint gets when it does not say: call.transferred is asked for by name."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    account: str
    url: str
    """http(s) URL the events are POSTed to."""
    secret: str
    """Signs every delivery (signing.py); at least 16 characters."""
    events: tuple[str, ...] = DEFAULT_EVENTS

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url: expected an http:// or https:// URL, got {self.url!r}")
        if len(self.secret) < 16:
            raise ValueError("secret: at least 16 characters")
        unknown = sorted(set(self.events) - set(EVENTS))
        if unknown or not self.events:
            raise ValueError(f"events: expected some of {', '.join(EVENTS)}, got {unknown or '[]'}")
