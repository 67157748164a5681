"""Which sources may start calls: the trunk's own addresses plus configured IPs and CIDR networks.

An INVITE from anywhere else is refused with 403 before any call exists, so a scanner on the
internet can neither ring the application nor cost more than one response.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["TrustedSources"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedSources:
    def __init__(self, networks: Iterable[str] = (), hosts: Iterable[str] = ()) -> None:
        self._networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(text, strict=False) for text in networks
        )
        self._hosts: set[str] = set()
        for host in hosts:
            self.add_host(host)

    def add_host(self, host: str) -> None:
        """Trust one more address (the trunk's, once resolved)."""
        canonical = _canonical(host)
        if canonical is not None:
            self._hosts.add(canonical)

    def allows(self, host: str) -> bool:
        canonical = _canonical(host)
        if canonical is None:
            return False
        if canonical in self._hosts:
            return True
        address = ipaddress.ip_address(canonical)
        return any(address in network for network in self._networks)

    def __repr__(self) -> str:
        listed = sorted(self._hosts) + [str(n) for n in self._networks]
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
