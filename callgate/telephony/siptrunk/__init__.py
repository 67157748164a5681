"""The SIP trunk: the domain's `Trunk` over SIP/RTP to a carrier or PBX.

    settings = SipTrunkSettings.from_uri("sip:user:secret@carrier.example:5060;transport=udp")
    trunk = SipTrunk(settings, clock, ticker)

Sans-I/O call control (the user agent over the transaction layer): `engine.py` (the public API and
what both directions share in a dialog) on `core.py`, `uac.py` (calls we place), `uas.py` (calls we
receive), with `call.py` (a call's phases), `register.py` (REGISTER refresh), `messages.py`,
`trust.py`, `settings.py`. The thin asyncio shell: `transport.py` (SIP over UDP and TCP), `media.py`
(one RTP socket per call, all on the shared media tick), `resolver.py` (the trunk's host name per
RFC 3263, over DNS) and `trunk.py`, which wires them.
"""

from .engine import CallControl, LocalAddress
from .media import MEDIA_STOPPED_CAUSE, NO_MEDIA_CAUSE
from .outputs import MediaStart, MediaStop, Output
from .settings import SipTrunkSettings
from .trunk import DNS_FAILURE_CAUSE, SipTrunk

__all__ = [
    "DNS_FAILURE_CAUSE",
    "MEDIA_STOPPED_CAUSE",
    "NO_MEDIA_CAUSE",
    "CallControl",
    "LocalAddress",
    "MediaStart",
    "MediaStop",
    "Output",
    "SipTrunk",
    "SipTrunkSettings",
]
