"""Sans-I/O SIP transactions (RFC 3261 §17, RFC 6026): tables, engine, matching, layer.

`TransactionLayer` is the one object a transport drives (see layer.py for how); `tables.py`
holds the four state machines. Nothing here reads a clock, opens a socket or awaits.
"""

from .events import (
    AckReceived,
    Action,
    Event,
    MessageDropped,
    RequestReceived,
    RequestRefused,
    ResponseReceived,
    Send,
    StrayResponse,
    Target,
    TransactionKey,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
)
from .layer import LayerConfig, TransactionLayer, TransactionTableFull
from .matching import client_key, new_branch, response_target, server_key, stamp_via
from .requests import build_cancel, build_non2xx_ack, build_trying
from .tables import Kind, State

__all__ = [
    "AckReceived",
    "Action",
    "Event",
    "Kind",
    "LayerConfig",
    "MessageDropped",
    "RequestReceived",
    "RequestRefused",
    "ResponseReceived",
    "Send",
    "State",
    "StrayResponse",
    "Target",
    "TransactionKey",
    "TransactionLayer",
    "TransactionTableFull",
    "TransactionTerminated",
    "TransactionTimeout",
    "TransportFailed",
    "build_cancel",
    "build_non2xx_ack",
    "build_trying",
    "client_key",
    "new_branch",
    "response_target",
    "server_key",
    "stamp_via",
]
