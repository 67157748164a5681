"""callgate: a self-hosted voice-call gateway (SIP/RTP to REST, Socket.IO and WebSocket applications)."""

__version__ = "0.1.0"
