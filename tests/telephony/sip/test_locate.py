"""RFC 3263 server location and RFC 2782 SRV order, sans-I/O: queries out, answers in, targets out."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from callgate.telephony.sip import Target
from callgate.telephony.sip.locate import (
    MAX_CACHE_S,
    Answer,
    Located,
    LocateError,
    Locator,
    Naptr,
    Query,
    Srv,
    TargetCache,
    choose_naptr,
    fails_over,
    order_srv,
)

Zone = dict[tuple[str, str], Answer]


def resolve(locator: Locator, zone: Zone) -> tuple[list[Query], Located]:
    """Answer every query from `zone` (NXDOMAIN for what it lacks); the queries made, the result."""
    asked = []
    while (query := locator.next_query()) is not None:
        asked.append(query)
        locator.feed(zone.get((query.name, query.rdtype), Answer(error="NXDOMAIN")))
    return asked, locator.result()


def srv(*records: tuple[int, int, int, str], ttl_s: float = 300.0) -> Answer:
    return Answer(tuple(Srv(p, w, port, t) for p, w, port, t in records), ttl_s=ttl_s)


def a(*addresses: str, ttl_s: float = 300.0) -> Answer:
    return Answer(addresses, ttl_s=ttl_s)


def test_a_numeric_ip_needs_no_lookup_and_takes_the_default_port():
    assert resolve(Locator("192.0.2.7"), {}) == (
        [],
        Located((Target("192.0.2.7", 5060, "UDP"),), MAX_CACHE_S),
    )
    _, tls = resolve(Locator("2001:db8::7", transport="tls"), {})
    assert tls.targets == (Target("2001:db8::7", 5061, "TLS"),)
    _, ported = resolve(Locator("192.0.2.7", port=5080), {})
    assert ported.targets == (Target("192.0.2.7", 5080, "UDP"),)


def test_an_explicit_port_skips_naptr_and_srv():
    zone = {("carrier.test", "A"): a("192.0.2.1", "192.0.2.2", ttl_s=60)}
    asked, located = resolve(Locator("carrier.test", port=5080), zone)
    assert asked == [Query("carrier.test", "A")]
    assert located.targets == (Target("192.0.2.1", 5080, "UDP"), Target("192.0.2.2", 5080, "UDP"))
    assert located.ttl_s == 60
    _, tcp = resolve(Locator("carrier.test", port=5080, transport="tcp"), zone)
    assert {t.transport for t in tcp.targets} == {"TCP"}


def test_a_pinned_transport_asks_its_srv_then_each_targets_address_in_priority_order():
    zone = {
        ("_sip._udp.carrier.test", "SRV"): srv(
            (20, 0, 5070, "b.carrier.test"), (10, 0, 5062, "a.carrier.test"), ttl_s=120
        ),
        ("a.carrier.test", "A"): a("192.0.2.1", ttl_s=30),
        ("b.carrier.test", "A"): a("192.0.2.2"),
    }
    asked, located = resolve(Locator("carrier.test", transport="udp"), zone)
    assert asked == [
        Query("_sip._udp.carrier.test", "SRV"),
        Query("a.carrier.test", "A"),
        Query("b.carrier.test", "A"),
    ]
    assert located.targets == (Target("192.0.2.1", 5062, "UDP"), Target("192.0.2.2", 5070, "UDP"))
    assert located.ttl_s == 30  # the smallest TTL on the way


def test_tls_asks_sips_over_tcp():
    zone = {
        ("_sips._tcp.carrier.test", "SRV"): srv((10, 0, 5061, "a.carrier.test")),
        ("a.carrier.test", "A"): a("192.0.2.1"),
    }
    asked, located = resolve(Locator("carrier.test", transport="tls"), zone)
    assert asked[0] == Query("_sips._tcp.carrier.test", "SRV")
    assert located.targets == (Target("192.0.2.1", 5061, "TLS"),)


def test_without_srv_records_the_hosts_own_addresses_at_the_default_port():
    zone = {("carrier.test", "A"): a("192.0.2.9")}
    asked, located = resolve(Locator("carrier.test", transport="tcp"), zone)
    assert asked == [Query("_sip._tcp.carrier.test", "SRV"), Query("carrier.test", "A")]
    assert located.targets == (Target("192.0.2.9", 5060, "TCP"),)


def test_srv_targets_that_do_not_resolve_are_skipped_and_there_is_no_fallback_to_the_host():
    zone = {
        ("_sip._udp.carrier.test", "SRV"): srv(
            (10, 0, 5060, "gone.carrier.test"), (20, 0, 5060, "b.carrier.test")
        ),
        ("b.carrier.test", "A"): a("192.0.2.2"),
        ("carrier.test", "A"): a("192.0.2.99"),
    }
    _, located = resolve(Locator("carrier.test", transport="udp"), zone)
    assert located.targets == (Target("192.0.2.2", 5060, "UDP"),)


def test_a_lone_dot_target_means_the_service_is_not_offered():
    zone = {
        ("_sip._udp.carrier.test", "SRV"): srv((0, 0, 0, ".")),
        ("carrier.test", "A"): a("192.0.2.99"),
    }
    with pytest.raises(LocateError, match=r"carrier\.test does not resolve"):
        resolve(Locator("carrier.test", transport="udp"), zone)


def test_nxdomain_everywhere_is_an_error_naming_each_lookup():
    with pytest.raises(LocateError) as raised:
        resolve(Locator("nowhere.test", transport="udp"), {})
    message = str(raised.value)
    assert "SRV _sip._udp.nowhere.test: NXDOMAIN" in message
    assert "A nowhere.test: NXDOMAIN" in message


def test_naptr_chooses_the_transport_by_order_then_preference():
    naptr = Answer(
        (
            Naptr(20, 10, "s", "SIP+D2U", "_sip._udp.carrier.test"),
            Naptr(10, 20, "S", "SIP+D2T", "_sip._tcp.carrier.test"),
            Naptr(10, 10, "s", "SIPS+D2T", "_sips._tcp.carrier.test"),
        ),
        ttl_s=600,
    )
    zone = {
        ("carrier.test", "NAPTR"): naptr,
        ("_sips._tcp.carrier.test", "SRV"): srv((10, 0, 5061, "a.carrier.test")),
        ("_sip._tcp.carrier.test", "SRV"): srv((10, 0, 5060, "a.carrier.test")),
        ("a.carrier.test", "A"): a("192.0.2.1"),
    }
    asked, tcp = resolve(Locator("carrier.test", transports=("UDP", "TCP")), zone)
    assert asked[:2] == [Query("carrier.test", "NAPTR"), Query("_sip._tcp.carrier.test", "SRV")]
    assert tcp.targets == (Target("192.0.2.1", 5060, "TCP"),)
    _, tls = resolve(Locator("carrier.test", transports=("UDP", "TCP", "TLS")), zone)
    assert tls.targets == (Target("192.0.2.1", 5061, "TLS"),)


def test_naptr_records_we_cannot_follow_are_ignored():
    records = (
        Naptr(10, 10, "u", "SIP+D2U", "!^.*$!sip:x@y!"),  # a regexp rule, no SRV
        Naptr(10, 10, "s", "SIP+D2S", "_sip._sctp.carrier.test"),  # SCTP: not ours
        Naptr(20, 10, "s", "SIP+D2U", "_sip._udp.carrier.test."),
    )
    assert choose_naptr(records, ("UDP", "TCP")) == [("_sip._udp.carrier.test", "UDP")]


def test_without_naptr_each_of_our_transports_is_asked_for_srv_in_our_order():
    zone = {
        ("_sip._tcp.carrier.test", "SRV"): srv((10, 0, 5090, "a.carrier.test")),
        ("a.carrier.test", "A"): a("192.0.2.1"),
    }
    asked, located = resolve(Locator("carrier.test", transports=("UDP", "TCP")), zone)
    assert asked[:3] == [
        Query("carrier.test", "NAPTR"),
        Query("_sip._udp.carrier.test", "SRV"),
        Query("_sip._tcp.carrier.test", "SRV"),
    ]
    assert located.targets == (Target("192.0.2.1", 5090, "TCP"),)


def test_ipv6_sockets_ask_for_aaaa():
    zone = {("carrier.test", "AAAA"): a("2001:db8::1")}
    asked, located = resolve(Locator("carrier.test", port=5060, families=("AAAA",)), zone)
    assert asked == [Query("carrier.test", "AAAA")]
    assert located.targets == (Target("2001:db8::1", 5060, "UDP"),)


def test_feeding_without_a_pending_query_is_a_bug_not_a_silent_no_op():
    locator = Locator("192.0.2.1")
    with pytest.raises(RuntimeError):
        locator.feed(Answer())
    pending = Locator("carrier.test", port=5060)
    with pytest.raises(RuntimeError):
        pending.result()


# --- RFC 2782 order -----------------------------------------------------------------------------


def test_srv_priority_comes_first_whatever_the_weights():
    records = [Srv(30, 100, 1, "c"), Srv(10, 0, 1, "a"), Srv(20, 1000, 1, "b")]
    assert [r.target for r in order_srv(records, random.Random(1).random)] == ["a", "b", "c"]


def test_srv_weights_are_drawn_by_the_rfcs_running_sums():
    heavy, light = Srv(10, 3, 1, "heavy"), Srv(10, 1, 1, "light")
    # Running sums 3 then 4 over a draw in 0..4: 0-3 choose heavy, only 4 chooses light.
    assert order_srv([heavy, light], lambda: 0.75)[0] == heavy  # int(0.75 * 5) = 3
    assert order_srv([heavy, light], lambda: 0.8)[0] == light  # int(0.8 * 5) = 4
    draw = random.Random(7).random
    firsts = Counter(order_srv([heavy, light], draw)[0].target for _ in range(4000))
    assert 0.75 < firsts["heavy"] / 4000 < 0.85  # 4 chances in 5


def test_a_weight_zero_record_is_first_only_on_a_zero_draw():
    zero, some = Srv(10, 0, 1, "zero"), Srv(10, 10, 1, "some")
    assert order_srv([some, zero], lambda: 0.0) == [zero, some]
    assert order_srv([some, zero], lambda: 0.5) == [some, zero]


def test_every_record_is_ordered_once():
    records = [Srv(p, w, 1, f"t{p}-{w}") for p in (1, 2) for w in (0, 5, 10)]
    ordered = order_srv(records, random.Random(3).random)
    assert sorted(ordered, key=lambda r: r.target) == sorted(records, key=lambda r: r.target)
    assert [r.priority for r in ordered] == [1, 1, 1, 2, 2, 2]


# --- the cache and the failover rule ------------------------------------------------------------


def test_the_cache_keeps_a_resolution_for_its_ttl_exactly():
    cache = TargetCache()
    located = Located((Target("192.0.2.1", 5060),), ttl_s=30.0)
    cache.put("carrier.test", located, now=100.0)
    assert cache.get("carrier.test", 129.999) == located
    assert cache.get("carrier.test", 130.0) is None
    assert cache.get("carrier.test", 129.0) is None  # an expired entry is gone for good


def test_the_cache_caps_long_ttls_and_holds_a_bounded_number_of_names():
    cache = TargetCache(max_entries=2)
    forever = Located((Target("192.0.2.1", 5060),), ttl_s=10 * MAX_CACHE_S)
    cache.put("a", forever, now=0.0)
    assert cache.get("a", MAX_CACHE_S - 1) == forever
    assert cache.get("a", MAX_CACHE_S) is None
    for name in ("a", "b", "c"):
        cache.put(name, forever, now=0.0)
    assert [cache.get(n, 1.0) is not None for n in ("a", "b", "c")] == [False, True, True]


def test_timeouts_transport_errors_and_503_fail_over_other_answers_do_not():
    assert fails_over(None)
    assert fails_over(503)
    assert [fails_over(s) for s in (200, 404, 408, 480, 486, 500, 502, 600)] == [False] * 8


def test_a_cached_answer_draws_the_srv_order_again_for_each_request():
    zone = {
        ("_sip._udp.carrier.test", "SRV"): srv(
            (10, 50, 5060, "a.carrier.test"),
            (10, 50, 5060, "b.carrier.test"),
            (20, 0, 5060, "c.carrier.test"),
        ),
        ("a.carrier.test", "A"): a("192.0.2.1"),
        ("b.carrier.test", "A"): a("192.0.2.2", "192.0.2.22"),
        ("c.carrier.test", "A"): a("192.0.2.3"),
    }
    _, located = resolve(Locator("carrier.test", transport="udp", random=lambda: 0.0), zone)
    a1, b1, b2, c1 = (
        Target(h, 5060, "UDP") for h in ("192.0.2.1", "192.0.2.2", "192.0.2.22", "192.0.2.3")
    )
    assert located.targets == (a1, b1, b2, c1)
    assert located.drawn(lambda: 0.0) == (a1, b1, b2, c1)
    assert located.drawn(lambda: 0.99) == (b1, b2, a1, c1)  # priority 20 stays last
    draw = random.Random(5).random
    firsts = Counter(located.drawn(draw)[0] for _ in range(2000))
    assert set(firsts) == {a1, b1}
    assert 0.4 < firsts[a1] / 2000 < 0.6
    plain = Located((a1,), 60.0)
    assert plain.drawn(draw) == (a1,)
