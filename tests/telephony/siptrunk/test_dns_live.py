"""The trunk's host name resolved per RFC 3263 against a DNS server of the tests' own, with sipp peers.

The DNS server (tests/peers/dns_server.py) answers on loopback from a dict; the trunk is told to ask
it (`dns_servers`). The SRV records name sipp's ports on 127.0.0.1, so a call that connects proves
the SRV target was used: `carrier.test` itself has no address at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup
from callgate.telephony.siptrunk import DNS_FAILURE_CAUSE
from tests.peers.dns_server import running_dns
from tests.peers.process import tcp_listening
from tests.peers.sipp import errors, running_sipp, scenario

from .harness import running_trunk

pytestmark = pytest.mark.peers

SIPP_DONE_S = 10.0
HOST = "carrier.test"
SRV = ("_sip._udp.carrier.test", "SRV")


def zone(*targets: tuple[int, int]) -> dict[tuple[str, str], list[str]]:
    """SRV records (priority, port) for carrier.test, each target its own name at 127.0.0.1."""
    records = {SRV: [f"{prio} 0 {port} sip{prio}.carrier.test." for prio, port in targets]}
    for prio, _ in targets:
        records[(f"sip{prio}.carrier.test", "A")] = ["127.0.0.1"]
    return records


class _Silent(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received.append(data)


@contextlib.asynccontextmanager
async def silent_peer() -> AsyncIterator[tuple[_Silent, int]]:
    """A UDP socket on loopback that takes every datagram and answers none (no ICMP either)."""
    protocol = _Silent()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: protocol, local_addr=("127.0.0.1", 0)
    )
    try:
        yield protocol, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


async def test_a_call_to_a_host_name_reaches_its_srv_target_and_the_answer_is_cached(tmp_path):
    plan = scenario("uas_answer_wait_bye", tmp_path, LINGER_MS="1")
    async with running_sipp(tmp_path, scenario_file=plan, calls=2) as (sipp, port):
        async with (
            running_dns(zone((10, port))) as dns,
            running_trunk(None, HOST, dns_servers=(dns.address,)) as t,
        ):
            assert dns.queries == [SRV, ("sip10.carrier.test", "A")]
            for _ in range(2):
                call = new_session_id()
                t.trunk.dial(call, "1000", None)
                await t.answered(call)
                t.trunk.hangup(call, 16)
                await t.drained()
            assert len(dns.queries) == 2, "within the TTL the calls must not ask again"
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_a_silent_first_target_fails_over_to_the_second_after_timer_b(tmp_path):
    plan = scenario("uas_answer_wait_bye", tmp_path, LINGER_MS="1")
    async with (
        silent_peer() as (silent, silent_port),
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        running_dns(zone((10, silent_port), (20, port))) as dns,
        # T1 of 50 ms: Timer B (64*T1) gives up on the silent target after 3.2 s.
        running_trunk(None, HOST, dns_servers=(dns.address,), t1_s=0.05) as t,
    ):
        call = new_session_id()
        started = t.clock.monotonic()
        t.trunk.dial(call, "2000", None)
        await t.answered(call)
        assert t.clock.monotonic() - started >= 64 * 0.05
        assert silent.received, "the INVITE must have gone to the first SRV target"
        assert all(d.startswith(b"INVITE ") for d in silent.received)
        assert t.trunk.engine.stats["failed_over"] == 1
        t.trunk.hangup(call, 16)
        await t.drained()
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_a_503_from_the_first_target_completes_the_call_on_the_second(tmp_path):
    busy_dir, good_dir = tmp_path / "busy", tmp_path / "good"
    busy_dir.mkdir()
    good_dir.mkdir()
    busy = scenario(
        "uas_reject", busy_dir, STATUS="503", PHRASE="Service Unavailable", EXTRA_HEADER=""
    )
    good = scenario("uas_answer_wait_bye", good_dir, LINGER_MS="1")
    async with (
        running_sipp(busy_dir, scenario_file=busy) as (refuser, busy_port),
        running_sipp(good_dir, scenario_file=good) as (answerer, good_port),
        running_dns(zone((10, busy_port), (20, good_port))) as dns,
        running_trunk(None, HOST, dns_servers=(dns.address,)) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "3000", None)
        await t.answered(call)
        assert t.trunk.engine.stats["failed_over"] == 1
        t.trunk.hangup(call, 16)
        await t.drained()
        assert await refuser.wait(SIPP_DONE_S) == 0, errors(busy_dir)
        assert await answerer.wait(SIPP_DONE_S) == 0, errors(good_dir)


async def test_a_name_that_stops_resolving_fails_the_call_at_once_with_a_clear_cause(tmp_path):
    # TTL 0: nothing is kept, so each call looks the name up again.
    async with (
        running_dns(zone((10, 5060)), ttl_s=0) as dns,
        running_trunk(None, HOST, dns_servers=(dns.address,)) as t,
    ):
        dns.records.clear()  # the carrier's zone is gone: NXDOMAIN from now on
        call = new_session_id()
        t.trunk.dial(call, "4000", None)
        hangup = await t.hangup(call, timeout_s=5.0)
        assert hangup == TrunkHangup(call, DNS_FAILURE_CAUSE, by_remote=False)
        assert DNS_FAILURE_CAUSE == 38
        assert dns.queries[2:] == [SRV, (HOST, "A")]  # asked again, found nothing
        assert t.trunk.media_streams == 0
        assert len(t.trunk.engine) == 0


async def test_a_trunk_whose_name_does_not_resolve_does_not_start(tmp_path):
    async with running_dns({}) as dns:
        with pytest.raises(OSError, match=r"carrier\.test does not resolve.*NXDOMAIN"):
            async with running_trunk(None, HOST, dns_servers=(dns.address,)):
                pass


async def test_register_uses_the_same_resolution_and_fails_over_from_a_503(tmp_path):
    busy_dir, good_dir = tmp_path / "busy", tmp_path / "good"
    busy_dir.mkdir()
    good_dir.mkdir()
    busy = scenario("uas_unavailable", busy_dir, METHOD="REGISTER")
    good = scenario("uas_registrar", good_dir, USER="gw", PASSWORD="s3cret", EXPIRES="300")
    async with (
        running_sipp(busy_dir, scenario_file=busy) as (refuser, busy_port),
        running_sipp(good_dir, scenario_file=good) as (registrar, good_port),
        running_dns(zone((10, busy_port), (20, good_port))) as dns,
        running_trunk(
            None,
            HOST,
            dns_servers=(dns.address,),
            username="gw",
            password="s3cret",
            register=True,
        ) as t,
    ):
        await t.wait_for(lambda: t.trunk.registered, "registered")
        assert await refuser.wait(SIPP_DONE_S) == 0, errors(busy_dir)
        assert await registrar.wait(SIPP_DONE_S) == 0, errors(good_dir)


async def test_transport_auto_follows_naptr_to_tcp(tmp_path):
    plan = scenario("uas_answer_wait_bye", tmp_path, LINGER_MS="1")
    async with running_sipp(tmp_path, scenario_file=plan, transport="t1") as (sipp, port):
        await tcp_listening(port)
        records = {
            (HOST, "NAPTR"): [
                '10 10 "s" "SIP+D2T" "" _sip._tcp.carrier.test.',
                '20 10 "s" "SIP+D2U" "" _sip._udp.carrier.test.',
            ],
            ("_sip._tcp.carrier.test", "SRV"): [f"10 0 {port} sip10.carrier.test."],
            ("_sip._udp.carrier.test", "SRV"): ["10 0 9 sip10.carrier.test."],  # not taken
            ("sip10.carrier.test", "A"): ["127.0.0.1"],
        }
        async with (
            running_dns(records) as dns,
            running_trunk(None, HOST, dns_servers=(dns.address,), transport="auto") as t,
        ):
            call = new_session_id()
            t.trunk.dial(call, "5000", None)
            await t.answered(call)
            t.trunk.hangup(call, 16)
            await t.drained()
            assert (HOST, "NAPTR") in dns.queries
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_a_call_hung_up_while_its_name_is_looked_up_ends_quietly(tmp_path):
    async with (
        running_dns(zone((10, 5060)), ttl_s=0) as dns,
        running_trunk(None, HOST, dns_servers=(dns.address,), dns_timeout_s=0.5) as t,
    ):
        dns.silent = True  # the name server stops answering: the lookup takes its 0.5 s
        given_up, failed = new_session_id(), new_session_id()
        t.trunk.dial(given_up, "6000", None)
        t.trunk.dial(failed, "6001", None)
        assert t.trunk.media_streams == 2  # both wait for the one lookup, their RTP ports held
        t.trunk.hangup(given_up, 16)
        assert t.trunk.media_streams == 1
        hangup = await t.hangup(failed, timeout_s=5.0)
        assert hangup == TrunkHangup(failed, DNS_FAILURE_CAUSE, by_remote=False)
        assert not t.of(TrunkHangup, given_up), "the domain's own hangup gets no event"
        assert t.trunk.media_streams == 0
        assert len(t.trunk.engine) == 0
