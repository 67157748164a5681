"""`SipTrunkSettings`: the one-variable URI form and the checks that stop a bad configuration."""

from __future__ import annotations

import pytest

from callgate.telephony.siptrunk import SipTrunkSettings
from callgate.telephony.siptrunk.trust import TrustedSources


def test_the_usual_uri():
    settings = SipTrunkSettings.from_uri("sip:user:secret@carrier.example:5080;transport=udp")
    assert (settings.host, settings.port, settings.transport) == ("carrier.example", 5080, "udp")
    assert (settings.username, settings.password) == ("user", "secret")
    assert not settings.register


def test_defaults_and_parameters():
    settings = SipTrunkSettings.from_uri(
        "sip:gw@10.0.0.5;transport=TCP;register=yes;expires=600;proxy=10.0.0.9:5070"
        ";callerid=%2B4155550100;domain=voip.example"
    )
    assert settings.port is None  # not given: RFC 3263 decides (5060 for this IP over TCP)
    assert settings.password is None
    assert settings.transport == "tcp"
    assert settings.register
    assert settings.register_expires_s == 600
    assert settings.outbound_proxy == "10.0.0.9:5070"
    assert settings.caller_id == "+4155550100"
    assert settings.domain == "voip.example"


def test_escaped_reserved_characters_in_the_password():
    settings = SipTrunkSettings.from_uri("sip:user:p%40ss%3Aword@pbx.local")
    assert settings.password == "p@ss:word"


def test_a_sips_uri_means_sips_over_tls():
    settings = SipTrunkSettings.from_uri("sips:alice@carrier.example")
    assert (settings.sips, settings.transport, settings.port) == (True, "tls", None)
    assert not SipTrunkSettings.from_uri("sip:alice@carrier.example;transport=tls").sips


def test_overrides_set_any_other_field():
    settings = SipTrunkSettings.from_uri("sip:pbx.local", bind_port=5080, rtp_timeout_s=0)
    assert (settings.bind_port, settings.rtp_timeout_s) == (5080, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("carrier.example", "must start with sip:"),
        ("sips:user@carrier.example;transport=udp", "SIPS URIs need transport tls"),
        ("sip:user@carrier.example;transport=sctp", "udp, tcp or tls"),
        ("sip:user@carrier.example;transport=sctp", "transport"),
        ("sip:user@carrier.example;colour=blue", "unknown parameter 'colour'"),
        ("sip:user@carrier.example;register", "needs a value"),
        ("sip:user@carrier.example;register=perhaps", "register: expected yes or no"),
        ("sip:user@carrier.example;expires=10", "register_expires_s"),
        ("sip:carrier.example;register=yes", "registering needs a username"),
        ("sip:user:pw@bad host", "malformed"),
        ("sip:user@carrier.example:99999", "malformed"),
        ("sip:user@carrier.example;proxy=a:b:c", "outbound_proxy"),
    ],
)
def test_bad_uris_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        SipTrunkSettings.from_uri(text)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trusted_sources", ("10.0.0.0/33",), "trusted_sources"),
        ("trusted_sources", ("10.0.0.1:0",), "not a port"),
        ("trusted_sources", ("[2001:db8::1]",), r"\[IPv6\]:port"),
        ("trunk_source_ports", (0,), "trunk_source_ports"),
        ("tls_cert_file", "/etc/ssl/gw.pem", "give both or neither"),
        ("rtp_port_min", 30001, "rtp_port_min/max"),
        ("rtp_port_max", 70000, "rtp_port_min/max"),
        ("codecs", ("G729",), "codecs"),
        ("telephone_event_pt", 13, "telephone_event_pt"),
        ("max_calls", 0, "max_calls"),
        ("bind_port", 70000, "bind_port"),
        ("t1_s", 5.0, "T1"),
    ],
)
def test_bad_fields_are_refused(field, value, message):
    values = {"host": "pbx.local", "rtp_port_min": 20000, "rtp_port_max": 30000, field: value}
    with pytest.raises(ValueError, match=message):
        SipTrunkSettings(**values)


def test_trust_names_addresses_networks_and_ports():
    trusted = TrustedSources(
        ["198.51.100.0/24:5070", "203.0.113.7", "[2001:db8::7]:5060", "2001:db8:1::/48"],
        hosts=["192.0.2.1"],
        host_ports=[5060, 5062],
    )
    allowed = [
        ("192.0.2.1", 5060),
        ("192.0.2.1", 5062),
        ("198.51.100.9", 5070),
        ("203.0.113.7", 40000),
        ("2001:db8::7", 5060),
        ("[2001:db8:1::5]", 9),
        ("::ffff:192.0.2.1", 5060),
    ]
    refused = [("192.0.2.1", 40000), ("198.51.100.9", 5060), ("2001:db8::7", 5061), ("x", 5060)]
    assert [trusted.allows(h, p) for h, p in allowed] == [True] * len(allowed)
    assert [trusted.allows(h, p) for h, p in refused] == [False] * len(refused)
    assert TrustedSources(hosts=["192.0.2.1"]).allows("192.0.2.1", 40000)  # no ports: any


def test_tls_is_a_transport():
    settings = SipTrunkSettings.from_uri("sip:gw@carrier.example:5061;transport=tls")
    assert (settings.transport, settings.port) == ("tls", 5061)
