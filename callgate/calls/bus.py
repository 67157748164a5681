"""Fan-out of call events to listeners, synchronously and in publication order.

A listener that raises is logged and skipped: one broken surface must not stop the others, or the call.
Listeners must not block; those with I/O put work on their own bounded queues. A listener may name
the event types it wants (`kinds`): it is then never called for the others, so one that counts calls
costs nothing per audio frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import get_args

from callgate.calls.events import BusEvent

log = logging.getLogger(__name__)

Listener = Callable[[BusEvent], None]
EVENT_TYPES: tuple[type, ...] = get_args(BusEvent)


class EventBus:
    def __init__(self) -> None:
        # (listener, the types it wants), in subscription order; and from it, per event type, the
        # tuple publishing iterates as it is: a listener that subscribes or leaves meanwhile takes
        # effect from the next event.
        self._subscribed: tuple[tuple[Listener, frozenset[type]], ...] = ()
        self._routes: dict[type, tuple[Listener, ...]] = dict.fromkeys(EVENT_TYPES, ())

    def subscribe(
        self, listener: Listener, kinds: Iterable[type] | None = None
    ) -> Callable[[], None]:
        wanted = frozenset(EVENT_TYPES if kinds is None else kinds)
        unknown = wanted - set(EVENT_TYPES)
        if unknown:
            raise ValueError(f"not call events: {sorted(kind.__name__ for kind in unknown)}")
        entry = (listener, wanted)
        self._subscribed = (*self._subscribed, entry)
        self._route()

        def unsubscribe() -> None:
            self._subscribed = tuple(known for known in self._subscribed if known is not entry)
            self._route()

        return unsubscribe

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py): a subscription per call would be a leak."""
        return {"bus_listeners": len(self._subscribed)}

    def publish(self, event: BusEvent) -> None:
        for listener in self._routes[type(event)]:
            try:
                listener(event)
            except Exception:
                log.exception("call event listener %r failed on %s", listener, type(event).__name__)

    def _route(self) -> None:
        self._routes = {
            kind: tuple(listener for listener, wanted in self._subscribed if kind in wanted)
            for kind in EVENT_TYPES
        }
