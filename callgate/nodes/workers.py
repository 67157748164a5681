"""`callgate serve --workers N`: N worker processes on one host, and the supervisor that runs them.

Each worker is a node of its own (node_id `<node_id>-<i>`, i from 1), so the workers share what
nodes share: a PostgreSQL database and Redis (without both, `--workers` refuses to start). They
share the HTTP port through SO_REUSEPORT: every worker binds its own listening socket and the
kernel spreads new connections over them by a hash of the connection's addresses. One socket
inherited by all would leave the spreading to whichever worker wakes first, which piles most
connections onto the least busy-looking one; and a worker's death takes only its own accept
queue with it.

SIP is not shared that way: a dialog's requests (ACK, BYE, re-INVITE) must reach the worker that
holds it, and a hash of the carrier's address would send all of one carrier's calls to one worker
and move them when the group changes. Each worker has its own SIP port (`bind_port + i - 1`; 0
stays 0, a free port each) and its own slice of the RTP range; a carrier that knows one SIP
address sends it to a dispatcher (Kamailio) that spreads INVITEs over the workers' ports.

Each worker keeps its files apart (`data_dir/worker-<i>`: the webhook spool; recordings in
`<recordings dir>/worker-<i>`, since a starting worker repairs the unfinished files it finds) and
serves the other workers' finished recordings too. The signing secret is the one of `data_dir`.

The supervisor restarts a worker that died (after a pause that grows while it keeps dying young),
forwards SIGTERM and SIGINT to every worker for a graceful drain, and exits once all have. A
worker that refused to start (exit status 2: a configuration the worker cannot run) is not
restarted. The workers get SIGTERM if the supervisor itself dies.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

from callgate.config import Config, ConfigError

log = logging.getLogger(__name__)

REFUSED = 2  # a worker's exit status when its configuration cannot run: never restarted
YOUNG_S = 10.0  # a worker that dies sooner after its start is restarted after a growing pause
FIRST_PAUSE_S = 0.5
LONGEST_PAUSE_S = 10.0
_PR_SET_PDEATHSIG = 1


def check_workers(config: Config, count: int) -> None:
    """Refuse a worker count the configuration cannot carry."""
    if count < 1:
        raise ConfigError(f"--workers: must be at least 1, got {count}")
    if count == 1:
        return
    if not config.redis_url:
        raise ConfigError(
            f"--workers {count}: each worker is a node, and nodes share calls through Redis: "
            "set redis_url (CALLGATE_REDIS_URL=redis://127.0.0.1:6379/0)"
        )
    if not config.database_url.startswith("postgresql"):
        raise ConfigError(
            f"--workers {count}: the workers share their call records, which needs PostgreSQL: "
            "set database_url (postgresql+asyncpg://USER@HOST/DB)"
        )
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError(f"--workers {count}: needs SO_REUSEPORT (Linux, BSD, macOS)")
    sip = config.sip
    if sip is not None:
        _rtp_slice(sip.rtp_port_min, sip.rtp_port_max, 1, count)  # refuses a range too small


def worker_config(config: Config, index: int, count: int, jwt_secret: str) -> Config:
    """The configuration of worker `index` (1..count) of `count`."""
    others = [i for i in range(1, count + 1) if i != index]
    recordings = config.effective_recordings_dir
    changes: dict[str, object] = {
        "node_id": f"{config.node_id}-{index}",
        "data_dir": config.data_dir / f"worker-{index}",
        "recordings_dir": recordings / f"worker-{index}",
        "recordings_also": tuple(recordings / f"worker-{i}" for i in others),
        "jwt_secret": jwt_secret,
    }
    sip = config.sip
    if sip is not None:
        table = dict(config.sip_table)
        if sip.bind_port:
            table["bind_port"] = sip.bind_port + index - 1
        table["rtp_port_min"], table["rtp_port_max"] = _rtp_slice(
            sip.rtp_port_min, sip.rtp_port_max, index, count
        )
        changes["sip_table"] = tuple(table.items())
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def _rtp_slice(low: int, high: int, index: int, count: int) -> tuple[int, int]:
    """Worker `index`'s share of the even RTP ports in [low, high], with each one's odd RTCP
    neighbour, disjoint from every other worker's."""
    first = low + low % 2
    evens = (high - first) // 2 + 1
    each = evens // count
    if each < 1:
        raise ConfigError(
            f"sip.rtp_port_min/rtp_port_max: {low}-{high} has too few ports for {count} workers"
        )
    start = first + 2 * each * (index - 1)
    return start, start + 2 * each - 1


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port that the other workers' sockets share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def check_port(host: str, port: int) -> None:
    """Refuse before starting workers when another program holds the HTTP port."""
    try:
        reuse_port_socket(host, port).close()
    except OSError as exc:
        raise ConfigError(f"port: cannot listen on {host}:{port}: {exc.strerror}") from None


@dataclass
class RestartPause:
    """How long to wait before restarting a worker that died `lived_s` after its start."""

    pause_s: float = 0.0

    def after(self, lived_s: float) -> float:
        if lived_s >= YOUNG_S:
            self.pause_s = 0.0
        else:
            self.pause_s = min(LONGEST_PAUSE_S, max(FIRST_PAUSE_S, self.pause_s * 2))
        return self.pause_s


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    pause: RestartPause = field(default_factory=RestartPause)


class Supervisor:
    """Runs `command(i)` for i in 1..count, restarting each when it dies, until told to stop."""

    def __init__(self, command: Callable[[int], Sequence[str]], count: int) -> None:
        self._command = command
        self._workers = {i: _Worker(i) for i in range(1, count + 1)}
        self._stopping = False

    def run(self) -> int:
        previous = {
            signum: signal.signal(signum, self._stop) for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for worker in self._workers.values():
                self._spawn(worker)
            return self._wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _stop(self, signum: int, _: FrameType | None) -> None:
        if self._stopping:
            return  # the drain is under way; a worker's own limits bound it
        self._stopping = True
        log.info("supervisor: %s, draining the workers", signal.Signals(signum).name)
        for worker in self._workers.values():
            if worker.proc is not None and worker.proc.returncode is None:
                worker.proc.send_signal(signal.SIGTERM)

    def _spawn(self, worker: _Worker) -> None:
        worker.proc = subprocess.Popen(
            list(self._command(worker.index)),
            preexec_fn=_die_with_parent,
            process_group=0,  # a terminal's Ctrl-C reaches the supervisor only: one SIGTERM each
        )
        worker.started = time.monotonic()
        log.info("supervisor: worker %d started (pid %d)", worker.index, worker.proc.pid)

    def _wait(self) -> int:
        by_pid = {w.proc.pid: w for w in self._workers.values() if w.proc is not None}
        refused = 0
        while by_pid:
            pid, status = os.wait()
            worker = by_pid.pop(pid, None)
            if worker is None or worker.proc is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            worker.proc.returncode = code
            if self._stopping:
                continue
            if code == REFUSED:
                log.error("supervisor: worker %d refused to start; not restarted", worker.index)
                refused += 1
                continue
            pause_s = worker.pause.after(time.monotonic() - worker.started)
            how = f"signal {-code}" if code < 0 else f"status {code}"
            log.error(
                "supervisor: worker %d (pid %d) died (%s); restarting in %.1f s",
                worker.index,
                pid,
                how,
                pause_s,
            )
            time.sleep(pause_s)  # a SIGTERM meanwhile is handled; it stops the restart
            if self._stopping:
                continue
            self._spawn(worker)
            assert worker.proc is not None
            by_pid[worker.proc.pid] = worker
        return REFUSED if refused == len(self._workers) else 0


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies (Linux), so no worker outlives
    it holding the port."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
