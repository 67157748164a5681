"""The inbound WebSocket protocol and the gateway's end of it.

For an incoming call the gateway connects to the application's WebSocket server, sends `incoming_call`,
then the caller's audio (binary, PCM16 8 kHz mono, 320 bytes per 20 ms), DTMF and `hangup`; the
application answers, sends audio, DTMF and `hangup`. Rooms: `protocol` (messages, JSON, limits, close
codes) and `session` (the ordering rules, sans-I/O) are the interface both ends share; `direct` (whole
audio messages straight off the socket) is the fast path both ends use; `routes` (which application a
dialled number goes to) and `connector` (the gateway's side, on the call domain) are the gateway's.
The application framework is `callgate.appkit`, which imports `protocol`, `session` and `direct` only.
"""
