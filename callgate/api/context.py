"""`ApiContext`: what the HTTP surfaces use of the running gateway, and nothing more.

The wiring (`app.py`, from the `Gateway`) builds one and puts it on the ASGI app's state; the handlers
read it there. So the API depends on the call domain and on its own pieces (admission, idempotency,
query slots), never on the gateway that wires them, the store behind the records, or a trunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from callgate.api.idempotency import CallRequests
from callgate.api.limits import QueryGate
from callgate.calls.history import CallHistory
from callgate.calls.recording import RecordingFiles
from callgate.calls.service import CallService


@dataclass(frozen=True, slots=True)
class ApiContext:
    jwt_secret: str
    calls: CallService
    requests: CallRequests
    """Placing and hanging up calls under admission limits and idempotency keys."""
    history: CallHistory
    """Call detail records, read as the API already reported them."""
    cdr_queries: QueryGate
    cdr_default_limit: int
    cdr_max_limit: int
    started: Callable[[], bool]
    """Whether the gateway has finished starting (the health check's status)."""
    recordings: RecordingFiles
    """Finished call recordings (GET /v1/recordings/{sessionId})."""
    idle: Callable[[], dict[str, int]] = dict
    """The idle-state probe's snapshot (GET /health?idle=1; see callgate/idle.py)."""
    caller_ids: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Account -> the caller IDs POST /pbx/call's `callerId` may name (config [accounts.<name>])."""
    node_id: str = ""
    """This process's node (GET /health's nodeId: which node a balancer reached)."""
