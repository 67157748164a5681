"""Running a peer program for one test: started by us, watched, always ended by its own PID.

`Peer` owns one subprocess: its output goes to a log file in the test's directory (read it in
assertions), `wait` is bounded, and `stop` ends it (SIGTERM, then SIGKILL) by PID. `udp_bound`
polls /proc/net/udp so a test starts talking to a peer only once its socket exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

TERM_GRACE_S = 3.0


class Peer:
    def __init__(self, name: str, argv: list[str], cwd: Path) -> None:
        self.name = name
        self.argv = argv
        self.cwd = cwd
        self.log_path = cwd / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Peer:
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    async def wait(self, timeout_s: float) -> int:
        """The exit code; TimeoutError (with the log's tail) if it runs past `timeout_s`."""
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"{self.name} still running after {timeout_s} s:\n{self.tail()}"
            ) from None

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), TERM_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def udp_ports_bound() -> set[int]:
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            next(lines, None)
            for line in lines:
                local = line.split()[1]
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


class PeerExited(RuntimeError):
    """The peer ended while we waited for it to come up; the message holds its log's tail."""

    def __init__(self, peer: Peer) -> None:
        super().__init__(f"{peer.name} exited with {peer.returncode}:\n{peer.tail()}")
        self.log = peer.log()


def _check_alive(peer: Peer | None) -> None:
    if peer is not None and peer.returncode is not None:
        raise PeerExited(peer)


async def udp_bound(port: int, timeout_s: float = 5.0, *, peer: Peer | None = None) -> None:
    """Return once some socket is bound to UDP `port`; TimeoutError after `timeout_s`, or
    PeerExited at once when `peer` (the program expected to bind it) has ended."""
    deadline = time.monotonic() + timeout_s
    while port not in udp_ports_bound():
        _check_alive(peer)
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing bound UDP port {port} within {timeout_s} s")
        await asyncio.sleep(0.02)


def _tcp_ports_listening() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def tcp_listening(port: int, timeout_s: float = 5.0, *, peer: Peer | None = None) -> None:
    """Return once some socket listens on TCP `port` (read from /proc: no test connection)."""
    deadline = time.monotonic() + timeout_s
    while port not in _tcp_ports_listening():
        _check_alive(peer)
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on TCP port {port} within {timeout_s} s")
        await asyncio.sleep(0.02)
