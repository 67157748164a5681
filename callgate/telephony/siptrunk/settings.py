"""The SIP trunk's settings: one frozen dataclass, and `from_uri` for the one-variable form.

    CALLGATE_TRUNK=sip:user:secret@carrier.example:5060;transport=udp;register=yes

`from_uri` reads `sip:[user[:password]@]host[:port]` and a few URI parameters (below); everything
else has a default here and can be set from the TOML `[sip]` table. Every check raises `ValueError`
with a message that names the setting, so a bad configuration stops start-up with a clear reason.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from callgate.telephony.sip import SipUri, parse_uri
from callgate.telephony.sip.grammar import GrammarError, check_host
from callgate.telephony.sip.sdes import CryptoSuite, MediaEncryption

from .trust import parse_source

TRANSPORTS: Final = ("udp", "tcp", "tls", "auto")
CODECS: Final = ("PCMU", "PCMA")
RELIABLE_PROVISIONAL: Final = ("off", "supported", "required")

_TRUE = frozenset({"1", "yes", "true", "on"})
_FALSE = frozenset({"0", "no", "false", "off"})


def _flag(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{name}: expected yes or no, got {text!r}")


def _whole(name: str, text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise ValueError(f"{name}: expected a whole number, got {text!r}")
    return int(text)


def _text(name: str, text: str) -> str:
    return text


def _lower(name: str, text: str) -> str:
    return text.lower()


# URI parameter -> (field, converter) for `from_uri`.
_URI_PARAMS: Final[dict[str, tuple[str, Callable[[str, str], Any]]]] = {
    "transport": ("transport", _lower),
    "register": ("register", _flag),
    "expires": ("register_expires_s", _whole),
    "proxy": ("outbound_proxy", _text),
    "realm": ("realm", _text),
    "callerid": ("caller_id", _text),
    "domain": ("from_domain", _text),
    "authuser": ("auth_username", _text),
    "media_encryption": ("media_encryption", _lower),
}


@dataclass(frozen=True, slots=True)
class SipTrunkSettings:
    """Where the carrier or PBX is, who we are to it, and how our side listens and sends media."""

    host: str
    """The trunk: carrier or PBX host name or IP. Out-of-dialog requests go here (or to the proxy)."""
    port: int | None = None
    """The trunk's port. Given, the host's A/AAAA records are used at that port; not given, a host
    name's SRV records name the servers and their ports (RFC 3263), else 5060 (5061 for TLS)."""
    transport: str = "udp"
    """udp, tcp or tls, for requests we send; UDP is always listened on, TCP when this is tcp,
    TLS (on the same port number, over TCP) when this is tls and `tls_cert_file` is set.
    auto: the trunk host's NAPTR records choose among UDP, TCP and TLS (RFC 3263 §4.1)."""
    dns_servers: tuple[str, ...] = ()
    """Name servers (`IP`, `IP:port`, `[IPv6]:port`) for the trunk's NAPTR, SRV and A/AAAA
    lookups; default: the system's (/etc/resolv.conf)."""
    dns_timeout_s: float = 5.0
    """The longest one resolution of the trunk's host may take; a call then fails (cause 38)."""
    tls_ca_file: str | None = None
    """PEM CA certificates the trunk's TLS certificate must chain to; default: the system's
    store. The certificate must also name the trunk `host` (a DNS name or an IP SAN)."""
    tls_cert_file: str | None = None
    """Our TLS certificate chain (PEM): served to inbound TLS connections, and offered to the
    trunk when it asks for a client certificate. Without it there is no TLS listener."""
    tls_key_file: str | None = None
    """The private key of `tls_cert_file` (PEM)."""
    sips: bool = False
    """SIPS URIs (RFC 5630) in our requests to the trunk (Request-URI, From, To, Contact): TLS on
    every hop, which a sips: trunk URI asks for; needs transport tls."""
    username: str | None = None
    """Digest user, the REGISTER address-of-record user and our Contact user."""
    password: str | None = None
    auth_username: str | None = None
    """Digest user when the carrier's differs from `username`."""
    realm: str | None = None
    """Answer challenges of this realm only; None answers any."""
    caller_id: str | None = None
    """From user when the domain gives no caller id; then `username`, then "callgate"."""
    from_domain: str | None = None
    """Host part of From, To and the Request-URI; default `host`."""
    outbound_proxy: str | None = None
    """host[:port]: requests are sent there with a loose Route, to `host`'s address in the URI."""
    register: bool = False
    register_expires_s: int = 3600
    register_retry_s: float = 30.0
    """Wait after a failed REGISTER before trying again."""

    bind_host: str = "0.0.0.0"
    bind_port: int = 5060
    """UDP (and TCP) port we listen on; 0 picks a free one."""
    public_host: str | None = None
    """Address written in Via, Contact and SDP; default: `bind_host`, or when that is a wildcard,
    the local address the system routes to the trunk from."""
    trusted_sources: tuple[str, ...] = ()
    """IPs and CIDRs allowed to send INVITEs, besides the trunk host and the proxy; each may name
    a port (`203.0.113.7:5060`, `[2001:db8::7]:5060`, `198.51.100.0/24:5060`)."""
    trunk_source_ports: tuple[int, ...] = ()
    """The ports the trunk and the proxy send from; empty trusts every port of their addresses.
    Over TCP a connection the trunk opens comes from a port of its choosing: leave this empty
    then, or list the trunk's addresses with their ports in `trusted_sources`."""

    rtp_bind_host: str | None = None
    """Where RTP sockets bind; default `bind_host`."""
    rtp_port_min: int = 16384
    rtp_port_max: int = 32766
    """Even ports in [min, max] carry RTP, one per call (RTCP's odd neighbour is left free)."""
    codecs: tuple[str, ...] = CODECS
    telephone_event_pt: int = 101
    rtp_timeout_s: float = 30.0
    """No RTP this long on a connected call (not on hold) ends it; 0 never does."""
    latch_any_source: bool = False
    """Accept RTP from any address, not only the one the peer's SDP names (peers behind NAT
    whose SDP holds a private address)."""
    media_encryption: str = "none"
    """SRTP with SDES keys (RFC 4568): none (plain RTP only), optional (offer RTP/AVP with
    a=crypto; take an SRTP or a plain offer), required (offer RTP/SAVP; a plain offer gets 488,
    an answer without a usable key ends the call)."""
    srtp_suites: tuple[str, ...] = tuple(CryptoSuite)
    """The SRTP suites we offer, in this order, and the only ones we accept:
    AES_CM_128_HMAC_SHA1_80 and/or AES_CM_128_HMAC_SHA1_32."""

    delayed_offer: bool = False
    """Our INVITEs carry no SDP (RFC 3261 §13.2.1): the callee offers in its 2xx and our answer
    goes in the ACK (or in a reliable 18x, answered in our PRACK: early media then). An offer in
    an unreliable 18x is not answered, so such a call has no early media."""
    hold_music: str | None = None
    """The audio file played to the far party while we hold a call (the application's `hold`):
    .wav (16-bit PCM), .mp3, .ulaw, .alaw or .pcm (8 kHz pcm16), looped. None: comfort silence
    (RTP carrying silence, so the far end's media timeout does not fire)."""

    session_expires_s: int = 1800
    """RFC 4028 session timer we ask for (and grant at most): the refresher sends an UPDATE (or
    re-INVITE) at half of it, and a session not refreshed in time ends with BYE, cause 102.
    0: we ask for none (a peer that asks still gets one)."""
    min_se_s: int = 90
    """The shortest session interval we accept: a request asking for less gets 422 with Min-SE."""
    reliable_provisional: str = "supported"
    """RFC 3262 100rel/PRACK. supported: we PRACK reliable 18x and send our 180 reliably when
    the caller supports it; required: also Require: 100rel on our INVITEs, and an INVITE that
    does not support it gets 421; off: neither (an INVITE requiring it gets 420)."""

    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0
    max_calls: int = 2000
    """Calls at once, both directions; above it dials fail (cause 34) and INVITEs get 503."""
    user_agent: str = "callgate"

    def __post_init__(self) -> None:
        _host("host", self.host)
        if self.port is not None:
            _port("port", self.port, allow_zero=False)
        _port("bind_port", self.bind_port, allow_zero=True)
        if self.transport not in TRANSPORTS:
            raise ValueError(
                f"transport: expected udp, tcp or tls (or auto), got {self.transport!r}"
            )
        for server in self.dns_servers:
            _nameserver(server)
        if not self.dns_timeout_s > 0:
            raise ValueError(f"dns_timeout_s: must be positive, got {self.dns_timeout_s}")
        if self.sips and self.transport != "tls":
            raise ValueError(f"sips: SIPS URIs need transport tls, not {self.transport}")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file/tls_key_file: give both or neither")
        if self.password is not None and not (self.username or self.auth_username):
            raise ValueError("password: a password needs a username")
        if self.register and not self.username:
            raise ValueError("register: registering needs a username")
        if not 60 <= self.register_expires_s <= 86_400 * 7:
            raise ValueError(
                f"register_expires_s: expected 60 to 604800 s, got {self.register_expires_s}"
            )
        if not self.register_retry_s > 0:
            raise ValueError(f"register_retry_s: must be positive, got {self.register_retry_s}")
        if self.outbound_proxy is not None:
            split_hostport("outbound_proxy", self.outbound_proxy)
        for source in self.trusted_sources:
            try:
                parse_source(source)
            except ValueError as exc:
                raise ValueError(f"trusted_sources: {exc}") from None
        for port in self.trunk_source_ports:
            _port("trunk_source_ports", port, allow_zero=False)
        low, high = self.rtp_port_min, self.rtp_port_max
        if not (1024 <= low < high <= 65534):
            raise ValueError(f"rtp_port_min/max: need 1024 <= min < max <= 65534, got {low}-{high}")
        if (high - low) // 2 < 1:
            raise ValueError("rtp_port_min/max: the range holds no pair of ports")
        if not self.codecs or any(codec not in CODECS for codec in self.codecs):
            raise ValueError(f"codecs: expected a choice of PCMU, PCMA, got {self.codecs}")
        if not 96 <= self.telephone_event_pt <= 127:
            raise ValueError(
                f"telephone_event_pt: expected 96-127 (dynamic), got {self.telephone_event_pt}"
            )
        if self.media_encryption not in tuple(MediaEncryption):
            raise ValueError(
                f"media_encryption: expected none, optional or required, "
                f"got {self.media_encryption!r}"
            )
        if not self.srtp_suites or any(s not in tuple(CryptoSuite) for s in self.srtp_suites):
            raise ValueError(
                "srtp_suites: expected a choice of AES_CM_128_HMAC_SHA1_80, "
                f"AES_CM_128_HMAC_SHA1_32, got {self.srtp_suites}"
            )
        if self.rtp_timeout_s < 0:
            raise ValueError(f"rtp_timeout_s: must be 0 or more, got {self.rtp_timeout_s}")
        if not 0 < self.t1_s <= self.t2_s or self.t4_s <= 0:
            raise ValueError(f"t1_s/t2_s/t4_s: need 0 < T1 <= T2 and T4 > 0, got {self.t1_s}")
        if self.reliable_provisional not in RELIABLE_PROVISIONAL:
            raise ValueError(
                "reliable_provisional: expected off, supported or required, "
                f"got {self.reliable_provisional!r}"
            )
        if self.hold_music is not None and (
            not isinstance(self.hold_music, str) or not os.path.isfile(self.hold_music)
        ):
            raise ValueError(f"hold_music: no such file: {self.hold_music!r}")
        if self.min_se_s < 90:
            raise ValueError(f"min_se_s: RFC 4028 allows no less than 90 s, got {self.min_se_s}")
        if self.session_expires_s != 0 and self.session_expires_s < self.min_se_s:
            raise ValueError(
                f"session_expires_s: 0 (off) or at least min_se_s ({self.min_se_s}), "
                f"got {self.session_expires_s}"
            )
        if self.max_calls < 1:
            raise ValueError(f"max_calls: must be at least 1, got {self.max_calls}")

    @property
    def domain(self) -> str:
        return self.from_domain or self.host

    @property
    def digest_username(self) -> str | None:
        return self.auth_username or self.username

    @classmethod
    def from_uri(cls, text: str, **overrides: Any) -> SipTrunkSettings:
        """Settings from `sip:user:secret@host:port;transport=udp` (see the module docstring).

        Parameters: transport (udp, tcp, tls, auto), register (yes/no), expires (REGISTER seconds), proxy
        (host[:port]), realm, callerid, domain, authuser, media_encryption (none, optional,
        required). Reserved characters in the user or the
        password are written %-escaped (an "@" in a password is %40). `overrides` set any other
        field, e.g. bind_port=5080.
        """
        text = text.strip()
        if not text.lower().startswith(("sip:", "sips:")):
            raise ValueError(
                f"trunk URI must start with sip: (e.g. sip:user:secret@host), got {text!r}"
            )
        try:
            uri = parse_uri(text)
        except GrammarError as exc:
            raise ValueError(f"trunk URI {text!r} is malformed: {exc}") from None
        if not isinstance(uri, SipUri):  # pragma: no cover - the prefix was checked
            raise ValueError(f"trunk URI {text!r} is not a sip: URI")
        if uri.headers:
            raise ValueError("trunk URI: headers (?...) are not allowed")
        values: dict[str, Any] = {"host": uri.host.strip("[]")}
        if uri.scheme == "sips":
            values.update(sips=True, transport="tls")
        if uri.port is not None:
            values["port"] = uri.port
        if uri.user is not None:
            values["username"] = uri.user_text
        if uri.password is not None:
            values["password"] = uri.password_text
        for raw_name, raw_value in uri.params:
            name = raw_name.lower()
            known = _URI_PARAMS.get(name)
            if known is None:
                allowed = ", ".join(sorted(_URI_PARAMS))
                raise ValueError(f"trunk URI: unknown parameter {name!r}; known: {allowed}")
            if raw_value is None:
                raise ValueError(f"trunk URI: parameter {name} needs a value ({name}=...)")
            field_name, convert = known
            values[field_name] = convert(name, uri.param(name) or "")
        values.update(overrides)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown SIP trunk setting(s): {', '.join(unknown)}")
        return cls(**values)


def _host(name: str, text: str) -> None:
    if not text:
        raise ValueError(f"{name}: empty host")
    try:
        check_host(f"[{text}]" if ":" in text and not text.startswith("[") else text)
    except GrammarError:
        raise ValueError(f"{name}: {text!r} is not a host name or IP address") from None


def _port(name: str, value: int, *, allow_zero: bool) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        raise ValueError(f"{name}: expected a port {low}-65535, got {value!r}")


def _nameserver(text: str) -> None:
    host, _ = split_optional_port("dns_servers", text.strip())
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"dns_servers: {text!r} is not an IP address[:port]") from None


def split_hostport(name: str, text: str, default_port: int = 5060) -> tuple[str, int]:
    """`host[:port]` (IPv6 in brackets) -> (host, port); ValueError naming the setting."""
    host, port = split_optional_port(name, text)
    return host, default_port if port is None else port


def split_optional_port(name: str, text: str) -> tuple[str, int | None]:
    """`host[:port]` (IPv6 in brackets) -> (host, port or None when not given)."""
    host, port = text, None
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[1:end], text[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise ValueError(f"{name}: {text!r} is not host[:port]")
        if rest:
            port = _whole(name, rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _whole(name, port_text)
    _host(name, host)
    if port is not None:
        _port(name, port, allow_zero=False)
    return host, port
