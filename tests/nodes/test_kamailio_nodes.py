"""The shipped Kamailio configuration (docs/kamailio.cfg), run by the real kamailio in front of real
`callgate serve` nodes on PostgreSQL and Redis, a sipp carrier calling in, the echo app answering.

100 calls spread over three nodes, each answered; one node stopped mid-run gets no new call once it
is marked down (by a call that found it dead, or by the OPTIONS pings), and the only calls lost are
ones it had taken. A node stopped while idle is marked down by the pings alone before any call
tries it, and marked up again when it is back. A node disabled with kamcmd before its stop (the
README's planned stop) gets no call though it answers the pings, and no call is lost. A node that
refuses calls with 503 passes them on. The two workers of one `serve --workers 2` share the calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.nodes.test_two_nodes import redis_url
from tests.nodes.test_workers import Workers
from tests.peers.kamailio import control_socket, running_kamailio
from tests.peers.process import Peer, tcp_listening, udp_ports_bound
from tests.peers.sipp import errors, running_sipp, scenario
from tests.support import free_port, need_program, postgres_database
from tests.test_crash_recovery import Server

__all__ = ["redis_url"]

pytestmark = pytest.mark.peers

CALLS = 100
RATE_PER_S = 8
AT_ONCE = 10
HOLD_MS = 1000
STOP_AFTER = 8
"""The stopped node is stopped once it has taken this many calls (about a quarter of the run)."""
SIPP_DONE_S = 40
PING_INTERVAL_S = 2  # docs/kamailio.cfg's ds_ping_interval
PINGS_DOWN_S = 15
"""Two OPTIONS pings 2 s apart, each given up after 2 s, mark a node down: well within this."""


def node_config(
    app_port: int,
    account: str,
    proxy_port: int,
    sip_port: int,
    rtp: int,
    sip_extra: str = "",
    rtp_ports: int = 200,
) -> str:
    """A node whose trunk is Kamailio (outbound calls would go through it) and whose inbound
    calls go to the echo app."""
    return f"""
trunk = "sip"
inbound_url = "ws://127.0.0.1:{app_port}"
inbound_account = "{account}"

[sip]
host = "127.0.0.1"
port = {proxy_port}
bind_host = "127.0.0.1"
bind_port = {sip_port}
rtp_port_min = {rtp}
rtp_port_max = {rtp + rtp_ports - 2}
{sip_extra}"""


@dataclass
class Farm:
    """The nodes (by letter), their SIP ports, Kamailio and what the records are read with."""

    nodes: dict[str, Server]
    sip_ports: dict[str, int]
    kamailio: Peer
    proxy_port: int
    carrier_port: int
    dsn: str
    account: str

    def letter(self, node_id: str) -> str:
        (name,) = (n for n, s in self.nodes.items() if s.env["CALLGATE_NODE_ID"] == node_id)
        return name

    def uri(self, name: str) -> str:
        return re.escape(f"sip:127.0.0.1:{self.sip_ports[name]}")

    async def records(self) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(
                "SELECT caller_id, node, disposition, hangup_by, start_time, end_time FROM cdr"
                " WHERE account = $1 AND direction = 'inbound'",
                self.account,
            )
        finally:
            await conn.close()

    async def closed_records(self) -> list[asyncpg.Record]:
        """Every record, once each is closed (a node writes the end of a call a moment after it)."""
        rows: list[asyncpg.Record] = []

        async def all_closed() -> bool:
            nonlocal rows
            rows = await self.records()
            return all(r["end_time"] is not None for r in rows)

        await wait_until(all_closed, 15, "every record closed")
        return rows

    async def taken(self, name: str) -> int:
        node_id = self.nodes[name].env["CALLGATE_NODE_ID"]
        return sum(r["node"] == node_id for r in await self.records())

    def calls(
        self, directory: Path, count: int
    ) -> contextlib.AbstractAsyncContextManager[tuple[Peer, int]]:
        """sipp placing `count` counted calls through Kamailio, a few at once."""
        plan = scenario("uac_counted", directory, NUMBER="4143", HOLD_MS=str(HOLD_MS))
        return running_sipp(
            directory,
            scenario_file=plan,
            port=self.carrier_port,
            remote=f"127.0.0.1:{self.proxy_port}",
            calls=count,
            extra=(
                *("-r", str(RATE_PER_S), "-l", str(AT_ONCE)),
                *("-trace_stat", "-stf", str(directory / "stats_.csv"), "-fd", "1"),
            ),
        )


@pytest.fixture
def database_url() -> Iterator[str]:
    with postgres_database("cg_kam") as url:
        yield url


@contextlib.asynccontextmanager
async def kamailio_farm(
    directory: Path,
    database_url: str,
    redis_url: str,
    names: str,
    sip_extra: dict[str, str] | None = None,
) -> AsyncIterator[Farm]:
    """The echo app, one node per letter of `names` (with its lines of `sip_extra` in its [sip]
    table) and Kamailio in front of their SIP ports."""
    need_program("kamailio")  # skipped (or failed in CI) before anything starts
    need_program("sipp")
    account = f"kam-{uuid.uuid4().hex[:6]}"
    tag = uuid.uuid4().hex[:6]
    proxy_port, carrier_port = free_port(), free_port()
    rtp_base = free_rtp_base(200 * len(names))
    app_port = free_port()
    argv = [sys.executable, "-m", "callgate.appkit.echo", "--port", str(app_port)]
    app = await Peer("echo", [*argv, "--log-level", "warning"], directory).start()
    nodes: dict[str, Server] = {}
    try:
        await tcp_listening(app_port, 20, peer=app)
        sip_ports = {name: free_port() for name in names}
        for index, name in enumerate(names):
            data_dir = directory / name
            data_dir.mkdir()
            config = node_config(
                app_port,
                account,
                proxy_port,
                sip_ports[name],
                rtp_base + 200 * index,
                (sip_extra or {}).get(name, ""),
            )
            server = Server(data_dir, database_url, config)
            server.env["CALLGATE_NODE_ID"] = f"kam-{name}-{tag}"
            server.env["CALLGATE_REDIS_URL"] = redis_url
            nodes[name] = server
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in nodes.values()))
        proxy = running_kamailio(
            directory, nodes=list(sip_ports.values()), carrier_port=carrier_port, port=proxy_port
        )
        async with proxy as (kamailio, _):
            dsn = database_url.replace("postgresql+asyncpg", "postgresql")
            yield Farm(nodes, sip_ports, kamailio, proxy_port, carrier_port, dsn, account)
    finally:
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in nodes.values()))
        await app.stop()


def free_rtp_base(span: int) -> int:
    """The start of `span` UDP ports none of which is bound now, below the system's ephemeral
    ports and below the ranges the trunk's tests (20000 and up) and benchmarks use."""
    bound = udp_ports_bound()
    bases = list(range(10000, 16000 - span, span))
    random.shuffle(bases)
    for base in bases:
        if not bound & set(range(base, base + span)):
            return base
    raise AssertionError("no free RTP range in 10000-15999")


def sipp_totals(directory: Path) -> tuple[int, int]:
    """(successful, failed) calls from the last line of sipp's -trace_stat file."""
    (stats,) = directory.glob("stats_.csv")
    last = list(csv.DictReader(stats.read_text().splitlines(), delimiter=";"))[-1]
    return int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"])


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, f"not in {timeout_s} s: {what}"
        await asyncio.sleep(0.05)


async def test_inbound_calls_spread_over_nodes_and_avoid_a_stopped_one(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    async with kamailio_farm(tmp_path, database_url, redis_url, "abc") as farm:
        async with farm.calls(tmp_path, CALLS) as (sipp, _):

            async def c_took_some() -> bool:
                return await farm.taken("c") >= STOP_AFTER

            await wait_until(c_took_some, SIPP_DONE_S, f"{STOP_AFTER} calls on node c")
            stop_log_at = len(farm.kamailio.log())
            await asyncio.to_thread(farm.nodes["c"].stop)  # SIGTERM, as an operator would
            stopped_at = time.time()  # the records' clock
            await sipp.wait(SIPP_DONE_S)
        log = farm.kamailio.log()
        rows = await farm.closed_records()
    successful, failed = sipp_totals(tmp_path)
    assert successful + failed == CALLS, errors(tmp_path)
    # Every call was answered by the echo app on some node; those the carrier ended itself had
    # their whole call.
    by_caller: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        by_caller.setdefault(row["caller_id"], []).append(row)
    assert set(by_caller) == {f"c{i}" for i in range(1, CALLS + 1)}
    for caller_id, mine in by_caller.items():
        assert any(r["disposition"] == "ANSWERED" for r in mine), (caller_id, mine)
    completed = {
        c for c, mine in by_caller.items() if any(r["hangup_by"] == "CALLER" for r in mine)
    }
    assert len(completed) == successful
    # The only calls lost are calls the stopped node had taken (it hung them up as it stopped).
    lost = set(by_caller) - completed
    assert len(lost) == failed
    taken_by_c = {r["caller_id"] for r in rows if farm.letter(r["node"]) == "c"}
    assert lost <= taken_by_c, (lost, taken_by_c)
    assert failed <= AT_ONCE
    # The calls spread: every node took some before the stop, only the two others after it.
    before = dict.fromkeys(farm.nodes, 0)
    after = dict.fromkeys(farm.nodes, 0)
    for row in rows:
        side = before if row["start_time"].timestamp() < stopped_at else after
        side[farm.letter(row["node"])] += 1
    assert min(before.values()) >= STOP_AFTER - 2, before
    assert after["c"] == 0, after
    assert after["a"] > 0, after
    assert after["b"] > 0, after
    # Kamailio marked c down, and sent it no INVITE after that.
    tail = log[stop_log_at:]
    down = re.search(rf"node down: {farm.uri('c')}\b", tail)
    assert down is not None, tail
    assert re.findall(rf"to the gateway {farm.uri('c')}: INVITE", tail[down.end() :]) == [], tail
    assert re.search(r"to the gateway \S+: INVITE", tail[down.end() :]), "no call after the mark"


async def test_the_pings_mark_an_idle_stopped_node_down_and_a_restarted_one_up(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    async with kamailio_farm(tmp_path, database_url, redis_url, "ab") as farm:
        await asyncio.to_thread(farm.nodes["b"].stop)

        async def marked(state: str) -> bool:
            return re.search(rf"node {state}: {farm.uri('b')}\b", farm.kamailio.log()) is not None

        await wait_until(lambda: marked("down"), PINGS_DOWN_S, "b marked down by the pings")
        first = tmp_path / "first"
        first.mkdir()
        async with farm.calls(first, 10) as (sipp, _):
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(first)
        log = farm.kamailio.log()
        # No call tried b: none waited for it to time out, all went to a.
        assert not re.search(r"node \S+ failed \(", log), log
        assert not re.search(rf"to the gateway {farm.uri('b')}: INVITE", log), log
        assert await farm.taken("a") == 10
        # b back on its port: the pings mark it up and it takes calls again.
        await asyncio.to_thread(farm.nodes["b"].start)
        await wait_until(lambda: marked("up"), PINGS_DOWN_S, "b marked up by the pings")
        again = tmp_path / "again"
        again.mkdir()
        async with farm.calls(again, 10) as (sipp, _):
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(again)
        assert await farm.taken("b") >= 4
        assert await farm.taken("a") + await farm.taken("b") == 20


async def test_a_node_taken_out_of_rotation_before_its_stop_loses_no_call(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    kamcmd = need_program("kamcmd")
    async with kamailio_farm(tmp_path, database_url, redis_url, "ab") as farm:
        async with farm.calls(tmp_path, 80) as (sipp, _):

            async def b_took_some() -> bool:
                return await farm.taken("b") >= 5

            await wait_until(b_took_some, SIPP_DONE_S, "5 calls on node b")
            # The README's planned stop: b disabled in the dispatcher, its calls end, then SIGTERM.
            control = f"unix:{control_socket(tmp_path)}"
            b_uri = f"sip:127.0.0.1:{farm.sip_ports['b']}"
            out_at = len(farm.kamailio.log())
            out_s = time.monotonic()
            argv = [kamcmd, "-s", control, "dispatcher.set_state", "d", "1", b_uri]
            done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, timeout=10)
            assert done.returncode == 0, done.stderr

            async def b_idle() -> bool:  # as the README says to watch it: b's own /metrics
                async with httpx.AsyncClient(base_url=farm.nodes["b"].url) as client:
                    text = (await client.get("/metrics", timeout=5)).text
                return re.search(r"^callgate_sip_calls 0\.0$", text, re.MULTILINE) is not None

            await wait_until(b_idle, 15, "b's calls ended")
            # Three rounds of pings, answered by b, while calls keep coming: b stays out.
            await asyncio.sleep(max(0.0, out_s + 3 * PING_INTERVAL_S - time.monotonic()))
            b_took = await farm.taken("b")
            await asyncio.to_thread(farm.nodes["b"].stop)
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
        log = farm.kamailio.log()
        rows = await farm.closed_records()
    # Every call completed: none was lost, none waited for a node that had gone.
    assert sorted(r["caller_id"] for r in rows) == sorted(f"c{i}" for i in range(1, 81))
    assert all(r["hangup_by"] == "CALLER" for r in rows), rows
    assert not re.search(r"node \S+ failed \(", log), log
    # b took calls until it was taken out (the pings answered did not put it back), none after.
    assert b_took == sum(farm.letter(r["node"]) == "b" for r in rows)
    assert not re.search(rf"to the gateway {farm.uri('b')}: INVITE", log[out_at:]), log[out_at:]
    assert re.search(r"to the gateway \S+: INVITE", log[out_at:]), "no call after b was out"


async def test_a_node_that_refuses_a_call_with_503_passes_it_to_the_next(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    # b takes one call at a time (`max_calls`); the run keeps several up at once.
    full = {"b": "max_calls = 1\n"}
    async with kamailio_farm(tmp_path, database_url, redis_url, "ab", full) as farm:
        async with farm.calls(tmp_path, 20) as (sipp, _):
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
        log = farm.kamailio.log()
        rows = await farm.closed_records()
    assert re.search(rf"node {farm.uri('b')} failed \(503\)", log), log
    # Every call was had in full, each by one node: a refused call never became a record.
    assert sorted(r["caller_id"] for r in rows) == sorted(f"c{i}" for i in range(1, 21))
    assert all(r["hangup_by"] == "CALLER" for r in rows), rows
    assert {farm.letter(r["node"]) for r in rows} == {"a", "b"}


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive ports free for UDP and TCP on 127.0.0.1 right now."""
    for _ in range(100):
        first = free_port()
        ports = range(first, first + count)
        if first + count <= 65535 and not udp_ports_bound() & set(ports):
            try:
                for port in ports[1:]:
                    with socket.socket() as sock:
                        sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return first
    raise AssertionError(f"no {count} consecutive free ports")


async def test_the_workers_of_one_serve_behind_kamailio_share_the_calls(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    """`serve --workers 2`: worker i on `bind_port + i - 1`, both in the dispatcher list."""
    need_program("kamailio")
    need_program("sipp")
    account = f"kamw-{uuid.uuid4().hex[:6]}"
    proxy_port, carrier_port = free_port(), free_port()
    sip_port = consecutive_free_ports(2)
    app_port = free_port()
    argv = [sys.executable, "-m", "callgate.appkit.echo", "--port", str(app_port)]
    app = await Peer("echo", [*argv, "--log-level", "warning"], tmp_path).start()
    workers = Workers(tmp_path, database_url, redis_url, 2)
    config = node_config(app_port, account, proxy_port, sip_port, free_rtp_base(400), rtp_ports=400)
    (tmp_path / "callgate.toml").write_text(config)  # over the one Workers wrote
    try:
        await tcp_listening(app_port, 20, peer=app)
        await asyncio.to_thread(workers.start)
        proxy = running_kamailio(
            tmp_path, nodes=[sip_port, sip_port + 1], carrier_port=carrier_port, port=proxy_port
        )
        async with proxy as (kamailio, _):
            plan = scenario("uac_counted", tmp_path, NUMBER="4143", HOLD_MS=str(HOLD_MS))
            caller = running_sipp(
                tmp_path,
                scenario_file=plan,
                port=carrier_port,
                remote=f"127.0.0.1:{proxy_port}",
                calls=20,
                extra=("-r", str(RATE_PER_S), "-l", str(AT_ONCE)),
            )
            async with caller as (sipp, _):
                assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
            log = kamailio.log()
    finally:
        await asyncio.to_thread(workers.stop)
        await app.stop()
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        owners = [r["node"] for r in await conn.fetch("SELECT node FROM cdr")]
    finally:
        await conn.close()
    assert len(owners) == 20
    took = {node: owners.count(node) for node in workers.node_ids()}
    assert min(took.values()) >= 5, took
    for port in (sip_port, sip_port + 1):
        assert f"to the gateway sip:127.0.0.1:{port}: INVITE" in log
