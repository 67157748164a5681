"""Kamailio in front of gateway nodes, as we ship it: `docs/kamailio.cfg`, run by the real kamailio.

`running_kamailio` writes the shipped file with its example addresses replaced by the test's (its
listen port, the carrier's, the dispatcher list and kamcmd's socket in the test's directory) and
a dispatcher list with one line per node SIP port (set 1), starts kamailio in the foreground
there, logging to stderr (its children die with it; it is ended by its PID), and waits until its
UDP socket exists.
Nothing else of the file is changed: what the tests run is what the README tells users to run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from tests.support import free_port, need_program

from .process import Peer, udp_bound

SHIPPED = Path(__file__).resolve().parents[2] / "docs" / "kamailio.cfg"
LISTEN = "listen=udp:192.0.2.10:5060"
CARRIER = '"sip:203.0.113.10:5060"'
LIST_FILE = '"/etc/kamailio/dispatcher.list"'
CONTROL = '"unix:/run/kamailio/kamailio_ctl"'


def configuration(directory: Path, *, port: int, carrier_port: int) -> str:
    """The shipped file for this test's addresses (each example address must be in it)."""
    text = SHIPPED.read_text()
    replacements = {
        LISTEN: f"listen=udp:127.0.0.1:{port}",
        CARRIER: f'"sip:127.0.0.1:{carrier_port}"',
        LIST_FILE: f'"{directory / "dispatcher.list"}"',
        CONTROL: f'"unix:{control_socket(directory)}"',
    }
    for example, value in replacements.items():
        assert text.count(example) == 1, f"{example} not once in {SHIPPED}"
        text = text.replace(example, value)
    return text


def control_socket(directory: Path) -> Path:
    """Where the test's kamailio listens for kamcmd (`kamcmd -s unix:<this> ...`)."""
    return directory / "kamailio_ctl"


@contextlib.asynccontextmanager
async def running_kamailio(
    directory: Path, *, nodes: Sequence[int], carrier_port: int, port: int | None = None
) -> AsyncIterator[tuple[Peer, int]]:
    """Kamailio on 127.0.0.1:`port` (a free one if None; yielded with it) between a carrier and
    the nodes' SIP ports on 127.0.0.1."""
    program = need_program("kamailio")
    port = port or free_port()
    config = directory / "kamailio.cfg"
    config.write_text(configuration(directory, port=port, carrier_port=carrier_port))
    (directory / "dispatcher.list").write_text(
        "".join(f"1 sip:127.0.0.1:{node}\n" for node in nodes)
    )
    argv = [program, "-f", str(config), "-DD", "-E", "-m", "64", "-M", "8", "-Y", str(directory)]
    peer = await Peer("kamailio", argv, directory).start()
    try:
        await udp_bound(port, peer=peer)
        yield peer, port
    finally:
        await peer.stop()
