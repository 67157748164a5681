"""The call domain: lifecycle, dispositions and causes, call records, live-call registry.

Knows nothing of HTTP, Socket.IO, SIP or SQL: those rooms depend on this one.
"""
