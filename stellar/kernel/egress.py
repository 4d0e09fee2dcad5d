"""The egress policy: every outbound HTTP request made for a workspace (API-call actions,
auth-connector token URLs, LLM base URLs) goes through `egress_client()`.

The host is resolved once, every address it resolves to is checked, and the connection is made
to the checked address itself (TLS still verifies the host name), so there is no window for
DNS rebinding. Loopback, private, link-local, CGNAT, multicast, reserved and unspecified
addresses are refused, including IPv6 forms that embed an IPv4 address (IPv4-mapped, 6to4,
NAT64, Teredo). Redirects are never followed. The operator allows extra networks or host names
with STELLAR_EGRESS_ALLOW (tests allow their loopback peers that way); the default allows none.

A refusal raises `EgressRefused` with one message for every reason, so error texts cannot be
used to scan the internal network.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED = "the destination is not allowed by this server's egress policy"

# Not globally routable, or routable but never a tenant's public API.
_BLOCKED_V4 = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
]
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


class EgressRefused(httpx.TransportError):
    """The request was not sent: its destination is not allowed."""


@dataclass(frozen=True)
class EgressPolicy:
    """Which destinations outbound requests may reach, beyond the public internet."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> EgressPolicy:
        """Entries are CIDR networks, single addresses or host names (case-insensitive)."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def address_allowed(self, address: IPAddress) -> bool:
        if any(address in net for net in self.allowed_networks if net.version == address.version):
            return True
        return not _is_internal(address)

    def host_allowed_by_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    # IPv4-compatible (deprecated ::a.b.c.d)
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def _is_internal(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            return True if address.teredo is not None else _is_internal(embedded)
        return (
            not address.is_global
            or address.is_multicast
            or address.is_link_local
            or address.is_site_local
            or address.is_reserved
        )
    return any(address in net for net in _BLOCKED_V4) or not address.is_global


def check_addresses(policy: EgressPolicy, host: str, addresses: Sequence[str]) -> str:
    """The first address to connect to, or EgressRefused when any resolved address is refused
    (a name that resolves to one public and one internal address is refused as a whole)."""
    if not addresses:
        raise EgressRefused(REFUSED)
    by_name = policy.host_allowed_by_name(host)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not by_name and not policy.address_allowed(address):
            raise EgressRefused(REFUSED)
    return addresses[0]


async def resolve(host: str, port: int) -> list[str]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [str(literal)]
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise EgressRefused(REFUSED) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, then connects to the checked address (SNI keeps the host name)."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = check_addresses(self._policy, host, await resolve(host, port))
        return await self._inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused(REFUSED)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle takes ~70 ms of CPU with the GIL
    held, which would stall the event loop on every request."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with the guarded network backend, no proxies from the environment."""

    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            network_backend=_GuardedBackend(policy),
        )


def configured_policy() -> EgressPolicy:
    """The operator's policy: STELLAR_EGRESS_ALLOW from settings (empty: public internet only)."""
    from django.conf import settings  # kernel modules stay importable without Django configured

    return EgressPolicy.from_entries(getattr(settings, "STELLAR_EGRESS_ALLOW", ()))


def egress_client(
    *, timeout: httpx.Timeout | float, policy: EgressPolicy | None = None
) -> httpx.AsyncClient:
    """An AsyncClient for requests made on a workspace's behalf. Never follows redirects."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy or configured_policy()),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


# Built at import, before any event loop serves a call: the first request must not pay for it.
_ssl_context()
