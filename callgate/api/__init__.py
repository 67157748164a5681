"""The Outgoing Call Service surfaces: REST, auth, Socket.IO, the CDR query language."""
