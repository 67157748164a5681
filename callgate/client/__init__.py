"""callgate.client: an asyncio client for callgate's Outgoing Call Service (REST + Socket.IO).

    async with Client("http://127.0.0.1:8080", token) as cg:
        call = await cg.dial("089608675796")
        await call.connected()
        await call.play("hello.mp3")
        await call.hangup(after_playout=True)

See README.md ("Python client") for the whole API.
"""

from callgate.client.audio import AudioFormat
from callgate.client.call import Call
from callgate.client.connection import Client, CommandRefused
from callgate.client.errors import (
    ApiError,
    Busy,
    CallEnded,
    CallgateError,
    CallNotConnected,
    Cancelled,
    ConnectionLost,
    Declined,
    Failed,
    NoAnswer,
)
from callgate.client.events import (
    Audio,
    AudioDropped,
    CallEvent,
    CheckpointReached,
    Dtmf,
    Ended,
    Interrupted,
    Played,
    PlayResult,
    Status,
)
from callgate.client.records import Cdr

__all__ = [
    "ApiError",
    "Audio",
    "AudioDropped",
    "AudioFormat",
    "Busy",
    "Call",
    "CallEnded",
    "CallEvent",
    "CallNotConnected",
    "CallgateError",
    "Cancelled",
    "Cdr",
    "CheckpointReached",
    "Client",
    "CommandRefused",
    "ConnectionLost",
    "Declined",
    "Dtmf",
    "Ended",
    "Failed",
    "Interrupted",
    "NoAnswer",
    "PlayResult",
    "Played",
    "Status",
]
