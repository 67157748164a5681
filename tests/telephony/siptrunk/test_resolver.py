"""`TrunkResolver` against the tests' own DNS server on loopback, its cache on a stepped clock."""

from __future__ import annotations

import random
from typing import Any

import pytest

from callgate.clock import ManualClock
from callgate.telephony.sip import Target
from callgate.telephony.sip.locate import LocateError
from callgate.telephony.siptrunk import SipTrunkSettings
from callgate.telephony.siptrunk.resolver import FAILURE_HOLD_S, TrunkResolver, nameserver_address
from tests.peers.dns_server import DnsServer, running_dns

HOST = "carrier.test"
ZONE = {
    ("carrier.test", "NAPTR"): [
        '10 10 "s" "SIP+D2T" "" _sip._tcp.carrier.test.',
        '20 10 "s" "SIP+D2U" "" _sip._udp.carrier.test.',
    ],
    ("_sip._tcp.carrier.test", "SRV"): ["10 0 5070 a.carrier.test.", "20 0 5080 b.carrier.test."],
    ("_sip._udp.carrier.test", "SRV"): ["10 0 5060 a.carrier.test."],
    ("a.carrier.test", "A"): ["192.0.2.1"],
    ("b.carrier.test", "A"): ["192.0.2.2", "192.0.2.3"],
}


def resolver(dns: DnsServer, clock: ManualClock, **settings: object) -> TrunkResolver:
    values: dict[str, Any] = {"host": HOST, "dns_servers": (dns.address,)}
    values.update(settings)
    trunk = SipTrunkSettings(**values)
    return TrunkResolver.for_hop(
        trunk, trunk.host, trunk.port, clock, tls=False, random=random.Random(1)
    )


async def test_auto_transport_follows_naptr_to_tcp_and_every_srv_targets_addresses():
    clock = ManualClock()
    async with running_dns(dict(ZONE)) as dns:
        located = await resolver(dns, clock, transport="auto").locate()
    assert located.targets[0] == Target("192.0.2.1", 5070, "TCP")
    # One name's addresses come in the order the server gives (dnspython's shuffles them).
    assert set(located.targets[1:]) == {
        Target("192.0.2.2", 5080, "TCP"),
        Target("192.0.2.3", 5080, "TCP"),
    }
    assert dns.queries == [
        (HOST, "NAPTR"),
        ("_sip._tcp.carrier.test", "SRV"),
        ("a.carrier.test", "A"),
        ("b.carrier.test", "A"),
    ]


async def test_a_pinned_transport_and_an_explicit_port_skip_what_the_rfc_says():
    clock = ManualClock()
    async with running_dns(dict(ZONE) | {(HOST, "A"): ["192.0.2.9"]}) as dns:
        udp = await resolver(dns, clock).locate()
        assert udp.targets == (Target("192.0.2.1", 5060, "UDP"),)
        assert dns.queries == [("_sip._udp.carrier.test", "SRV"), ("a.carrier.test", "A")]
        dns.queries.clear()
        ported = await resolver(dns, clock, port=5099).locate()
        assert ported.targets == (Target("192.0.2.9", 5099, "UDP"),)
        assert dns.queries == [(HOST, "A")]


async def test_the_answer_is_kept_for_its_ttl_on_the_clock_then_asked_again():
    clock = ManualClock()
    async with running_dns(dict(ZONE), ttl_s=60) as dns:
        trunk = resolver(dns, clock)
        first = await trunk.locate()
        asked = len(dns.queries)
        clock.advance(59.9)
        assert trunk.cached() == first
        assert not trunk.due()
        assert await trunk.locate() == first
        assert len(dns.queries) == asked
        clock.advance(0.1)
        assert trunk.cached() is None
        assert trunk.due()
        dns.records[("a.carrier.test", "A")] = ["192.0.2.77"]
        moved = await trunk.locate()
        assert moved.targets == (Target("192.0.2.77", 5060, "UDP"),)
        assert len(dns.queries) == 2 * asked


async def test_a_failure_is_kept_briefly_so_a_dead_zone_is_not_asked_on_every_dial():
    clock = ManualClock()
    async with running_dns({}) as dns:
        trunk = resolver(dns, clock)
        with pytest.raises(LocateError, match="NXDOMAIN"):
            await trunk.locate()
        asked = len(dns.queries)
        clock.advance(FAILURE_HOLD_S - 0.1)
        assert not trunk.due()
        with pytest.raises(LocateError, match="NXDOMAIN"):
            await trunk.locate()
        assert len(dns.queries) == asked
        clock.advance(0.1)
        assert trunk.due()
        dns.records.update(ZONE)
        assert (await trunk.locate()).targets == (Target("192.0.2.1", 5060, "UDP"),)


async def test_a_server_that_does_not_answer_is_a_clear_failure_within_the_timeout():
    clock = ManualClock()
    async with running_dns(dict(ZONE)) as dns:
        dns.silent = True
        trunk = resolver(dns, clock, dns_timeout_s=0.3)
        with pytest.raises(LocateError, match="timed out"):
            await trunk.locate()


def test_name_server_addresses():
    assert nameserver_address("127.0.0.1") == ("127.0.0.1", 53)
    assert nameserver_address("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert nameserver_address("[::1]:5353") == ("::1", 5353)
    with pytest.raises(ValueError, match="dns_servers"):
        nameserver_address("ns.example")
    with pytest.raises(ValueError, match="dns_servers"):
        SipTrunkSettings(host=HOST, dns_servers=("ns.example:53",))
    with pytest.raises(ValueError, match="dns_timeout_s"):
        SipTrunkSettings(host=HOST, dns_timeout_s=0)
