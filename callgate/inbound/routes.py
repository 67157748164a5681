"""Inbound routes: which application (WebSocket URL) and account a dialled number's calls go to.

A value type of its own so that the settings (`config.py`) can hold routes without importing the
connector that follows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from callgate.listen.options import ListenOptions


@dataclass(frozen=True, slots=True)
class InboundRoute:
    """Calls to numbers matching `pattern` (a regular expression on the whole DID) go to `url`."""

    pattern: str
    url: str
    account: str
    headers: tuple[tuple[str, str], ...] = ()
    record: bool | None = None  # record this route's calls; None: the `record_calls` default
    listen: ListenOptions | None = None  # speech events and barge-in for its app (docs/listen.md)
    # Given to each of its calls (incoming_call's `metadata`, the CDR), with the INVITE's X- headers.
    metadata: tuple[tuple[str, Any], ...] = ()

    def matches(self, did_number: str) -> bool:
        return re.fullmatch(self.pattern, did_number) is not None
