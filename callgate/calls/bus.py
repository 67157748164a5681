"""Fan-out of call events to listeners, synchronously and in publication order.

A listener that raises is logged and skipped: one broken surface must not stop the others, or the call.
Listeners must not block; those with I/O put work on their own bounded queues.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callgate.calls.events import BusEvent

log = logging.getLogger(__name__)

Listener = Callable[[BusEvent], None]


class EventBus:
    def __init__(self) -> None:
        # A tuple, replaced on (un)subscribe: publishing (every audio frame) iterates it as it is,
        # and a listener that subscribes or leaves meanwhile takes effect from the next event.
        self._listeners: tuple[Listener, ...] = ()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            self._listeners = tuple(known for known in self._listeners if known is not listener)

        return unsubscribe

    def publish(self, event: BusEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("call event listener %r failed on %s", listener, type(event).__name__)
