"""sipp for the trunk's tests: the scenarios in `tests/peers/sipp/`, run as one owned process each.

Scenario files hold `@NAME@` placeholders (pcap paths, the Contact to advertise, a status code);
`scenario()` fills them in and writes the result into the test's directory. `start_sipp` runs
sipp bound to 127.0.0.1 on ports the test chose, with its own global timeout as a backstop, and
waits until its SIP socket exists. Exit code 0 means every call followed the scenario.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.support import free_port, need_program

from .process import Peer, udp_bound

_PLACEHOLDER = re.compile(r"@[A-Z_]+@")
SCENARIOS = Path(__file__).parent / "sipp"
SIPP_TIMEOUT_S = 30
DTMF_DIR = Path("/usr/share/sip-tester")
"""sipp's own captured RFC 2833/4733 digits (Debian package sip-tester)."""


def scenario(name: str, directory: Path, **values: str) -> Path:
    """`tests/peers/sipp/<name>.xml` with every @KEY@ replaced, written to `directory`."""
    text = (SCENARIOS / f"{name}.xml").read_text()
    values.setdefault("CONTACT", "[local_ip]:[local_port]")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = _PLACEHOLDER.findall(text)
    if leftover:
        raise ValueError(f"scenario {name}: no value for {sorted(set(leftover))}")
    path = directory / f"{name}.xml"
    path.write_text(text)
    return path


async def start_sipp(
    directory: Path,
    *,
    scenario_file: Path | None = None,
    builtin: str | None = None,
    port: int | None = None,
    remote: str | None = None,
    calls: int = 1,
    media_port: int | None = None,
    extra: tuple[str, ...] = (),
    transport: str = "u1",
    ip: str = "127.0.0.1",
) -> tuple[Peer, int]:
    """Start sipp (a scenario file or a built-in one); returns it and its SIP port."""
    program = need_program("sipp")
    port = port or free_port()
    argv = [program]
    if scenario_file is not None:
        argv += ["-sf", str(scenario_file)]
    elif builtin is not None:
        argv += ["-sn", builtin]
    argv += [
        "-i", ip,
        "-p", str(port),
        "-mp", str(media_port or free_port()),
        "-m", str(calls),
        "-t", transport,
        "-nostdin",
        "-timeout", f"{SIPP_TIMEOUT_S}s",
        "-timeout_error",
        "-trace_err",
    ]  # fmt: skip
    argv += extra
    if remote is not None:
        argv.append(remote)
    peer = await Peer("sipp", argv, directory).start()
    if transport.startswith("u"):
        try:
            await udp_bound(port, peer=peer)
        except BaseException:
            await peer.stop()
            raise
    return peer, port


def errors(directory: Path) -> str:
    """What sipp's -trace_err logged about unexpected messages, for assertion messages."""
    return "\n".join(p.read_text(errors="replace") for p in directory.glob("*_errors.log"))


@contextlib.asynccontextmanager
async def running_sipp(directory: Path, **options: Any) -> AsyncIterator[tuple[Peer, int]]:
    """`start_sipp` whose process is always ended (by its PID) when the block exits."""
    peer, port = await start_sipp(directory, **options)
    try:
        yield peer, port
    finally:
        await peer.stop()
