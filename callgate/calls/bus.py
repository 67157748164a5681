"""Fan-out of call events to listeners, synchronously and in publication order.

A listener that raises is logged and skipped: one broken surface must not stop the others, or the call.
Listeners must not block; those with I/O put work on their own bounded queues.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callgate.calls.events import CallEvent

log = logging.getLogger(__name__)

Listener = Callable[[CallEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, event: CallEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("call event listener %r failed on %s", listener, type(event).__name__)
