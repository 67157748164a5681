"""Kamailio in front of the gateway for the trunk's tests: a record-routing stateful proxy.

`running_kamailio` writes `tests/peers/kamailio/kamailio.cfg.template` and a one-entry dispatcher
list (set 1: the gateway) into the test's directory, starts kamailio in the foreground there (its
children die with it; it is ended by its PID) and waits until its UDP socket exists. Requests from
the gateway's SIP port go to the carrier's, every other request to the gateway by the dispatcher.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.support import free_port, need_program

from .process import Peer, udp_bound

TEMPLATE = Path(__file__).parent / "kamailio" / "kamailio.cfg.template"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")


@contextlib.asynccontextmanager
async def running_kamailio(
    directory: Path, *, gateway_port: int, carrier_port: int
) -> AsyncIterator[tuple[Peer, int]]:
    """Kamailio on 127.0.0.1 (its port yielded with it) between a gateway and a carrier."""
    program = need_program("kamailio")
    port = free_port()
    values = {
        "PORT": str(port),
        "GATEWAY_PORT": str(gateway_port),
        "CARRIER_PORT": str(carrier_port),
        "DIRECTORY": str(directory),
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    config = directory / "kamailio.cfg"
    config.write_text(text)
    (directory / "dispatcher.list").write_text(f"1 sip:127.0.0.1:{gateway_port}\n")
    argv = [program, "-f", str(config), "-DD", "-E", "-m", "64", "-M", "8", "-Y", str(directory)]
    peer = await Peer("kamailio", argv, directory).start()
    try:
        await udp_bound(port, peer=peer)
        yield peer, port
    finally:
        await peer.stop()
