"""Which sources may start calls: the trunk's own addresses plus configured IPs and CIDR networks,
each at any port or at the ports named.

An INVITE from anywhere else is refused with 403 before any call exists, so a scanner on the
internet can neither ring the application nor cost more than one response. Trust can name a port
(`203.0.113.7:5060`, `[2001:db8::7]:5060`, `198.51.100.0/24:5060`): a host that also runs other
software (or sits behind a NAT shared with others) is then trusted only where its SIP stack sends
from, and a flood from another port of the same address is a stranger's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["TrustedSources", "parse_source"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_source(text: str) -> tuple[Network, int | None]:
    """`IP`, `CIDR`, `IP:port`, `CIDR:port` or `[IPv6 or IPv6 CIDR]:port` -> (network, port or
    None for any port). ValueError with the text when it is none of these."""
    body, port = text.strip(), None
    if body.startswith("["):
        end = body.find("]")
        rest = body[end + 1 :] if end > 0 else "?"
        if not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected [IPv6]:port")
        body, port = body[1:end], _port(text, rest[1:])
    elif body.count(":") == 1:  # IPv4 (or v4 CIDR) with a port; bare IPv6 has two or more
        body, port_text = body.split(":")
        port = _port(text, port_text)
    try:
        return ipaddress.ip_network(body, strict=False), port
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or CIDR network") from None


def _port(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise ValueError(f"{text!r}: {port_text!r} is not a port 1-65535")
    return int(port_text)


class TrustedSources:
    def __init__(
        self,
        networks: Iterable[str] = (),
        hosts: Iterable[str] = (),
        *,
        host_ports: Iterable[int] = (),
    ) -> None:
        """`networks`: the configured sources (see `parse_source`). `hosts`: the trunk's (and
        proxy's) addresses, trusted at `host_ports`, or at any port when none are given."""
        self._networks: tuple[tuple[Network, int | None], ...] = tuple(
            parse_source(text) for text in networks
        )
        self._host_ports: frozenset[int] = frozenset(host_ports)
        self._hosts: set[str] = set()
        for host in hosts:
            self.add_host(host)

    def add_host(self, host: str) -> None:
        """Trust one more address (the trunk's, once resolved), at the trunk's ports."""
        canonical = _canonical(host)
        if canonical is not None:
            self._hosts.add(canonical)

    def allows(self, host: str, port: int) -> bool:
        """Is `host` at `port` a trusted source?"""
        canonical = _canonical(host)
        if canonical is None:
            return False
        if canonical in self._hosts and (not self._host_ports or port in self._host_ports):
            return True
        address = ipaddress.ip_address(canonical)
        return any(
            address in network and (wanted is None or port == wanted)
            for network, wanted in self._networks
        )

    def __repr__(self) -> str:
        ports = f":{sorted(self._host_ports)}" if self._host_ports else ""
        listed = [h + ports for h in sorted(self._hosts)] + [
            str(n) if p is None else f"{n}:{p}" for n, p in self._networks
        ]
        return f"TrustedSources({', '.join(listed)})"


def _canonical(host: str) -> str | None:
    """The canonical text of an IP (IPv4-mapped IPv6 as IPv4), or None for a non-IP."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
