"""The table of NAS clients (access points, controllers) the server answers.

A client is one address or a CIDR network with a shared secret. Lookup is longest-prefix match:
a /32 for one controller inside a /24 of access points wins. IPv4-mapped IPv6 sources
(``::ffff:192.0.2.1``, seen on dual-stack sockets) are matched as IPv4. The table is immutable:
the server builds a new one when the database changes and swaps it in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """A NAS allowed to talk to us, with what the policy needs to know about where it is."""

    id: int
    name: str
    network: IPNetwork
    secret: bytes = field(repr=False)
    require_message_authenticator: bool = True
    site_id: int | None = None
    commune_id: int | None = None
    vendor: str = "other"
    #: set when this peer is a partner region's proxy (federation), not one of our access points;
    #: then ``id`` is negative (not a ``nas`` row)
    partner_id: int | None = None

    @property
    def nas_id(self) -> int | None:
        """The ``nas`` row of an access point; None for a partner's proxy."""
        return self.id if self.partner_id is None else None


def parse_address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientTable:
    """Longest-prefix-match lookup of clients by source address."""

    __slots__ = ("_by_prefix", "_cache", "clients")

    _CACHE_LIMIT = 65_536

    def __init__(self, clients: Iterable[Client] = ()) -> None:
        self.clients: tuple[Client, ...] = tuple(clients)
        by_prefix: dict[tuple[int, int], dict[int, Client]] = {}
        for client in self.clients:
            net = client.network
            by_prefix.setdefault((net.version, net.prefixlen), {})[int(net.network_address)] = client
        # longest prefixes first; per version
        self._by_prefix = sorted(by_prefix.items(), key=lambda item: -item[0][1])
        self._cache: dict[str, Client | None] = {}

    def __len__(self) -> int:
        return len(self.clients)

    def lookup(self, source_ip: str) -> Client | None:
        """The client for a source address, or None (then the packet is dropped)."""
        try:
            return self._cache[source_ip]
        except KeyError:
            pass
        found = self._find(source_ip)
        if len(self._cache) >= self._CACHE_LIMIT:
            self._cache.clear()  # a flood of spoofed sources must not grow memory
        self._cache[source_ip] = found
        return found

    def _find(self, source_ip: str) -> Client | None:
        address = parse_address(source_ip)
        if address is None:
            return None
        value, bits = int(address), address.max_prefixlen
        for (version, prefixlen), table in self._by_prefix:
            if version != address.version:
                continue
            masked = value >> (bits - prefixlen) << (bits - prefixlen) if prefixlen else 0
            client = table.get(masked)
            if client is not None:
                return client
        return None
