"""Where a provider-supplied link may lead: public addresses, and the provider's own.

A finished video's URL comes from the relay, so fetching it blindly would let the
relay, or whoever controls its CDN's DNS, make the bot read its own network: a
local admin port, a private service, the cloud metadata endpoint that hands out
credentials. So a link is fetched only over http(s), only when every address its
host resolves to is public, and the connection goes to the address that was
checked (``PINNED_ADDRESSES``; see ``bot.http_transport``), so a second DNS answer
cannot swap in another. Each redirect hop is checked the same way.

Two exceptions, both about the provider's own base URL:

* its own origin (scheme, host, port) is trusted like every API call to it, except
  for the never-fetched addresses (metadata, unspecified, multicast, reserved);
* when the base URL's host is itself a literal non-public address or ``localhost``
  (the built-in simulator on 127.0.0.1, a relay on the same host or LAN), links on
  that same class of address are allowed for that provider. A base URL given by
  name grants nothing: the class is the operator's explicit choice.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum

import httpx

from bot.errors import ProviderURLRefused

# ``(host, addresses)`` in a request's extensions: connect to these, nothing else.
PINNED_ADDRESSES = "sorabot.pinned_addresses"

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressClass(StrEnum):
    """What kind of network an address is on, in words an operator's log can use."""

    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private network"
    SHARED = "carrier-grade NAT"
    LINK_LOCAL = "link-local"
    METADATA = "cloud metadata"
    RESERVED = "reserved"  # unspecified, multicast, documentation, broadcast, ...


# Never fetched from, whatever the provider's own address is.
_NEVER = frozenset({AddressClass.METADATA, AddressClass.RESERVED})
_METADATA = frozenset(
    ipaddress.ip_address(raw)
    for raw in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(
    ipaddress.ip_network(raw)
    for raw in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form stands for (``::ffff:127.0.0.1``, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def address_class(ip: IPAddress) -> AddressClass:
    """The class of ``ip``; IPv6 forms of an IPv4 address count as that address."""
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _embedded_v4(ip) or ip
    if ip in _METADATA:
        return AddressClass.METADATA
    if ip.is_loopback:
        return AddressClass.LOOPBACK
    if ip.is_link_local:
        return AddressClass.LINK_LOCAL
    if ip in _SHARED:
        return AddressClass.SHARED
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return AddressClass.RESERVED
    if any(ip in network for network in _PRIVATE if network.version == ip.version):
        return AddressClass.PRIVATE
    return AddressClass.PUBLIC if ip.is_global else AddressClass.RESERVED


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _is_localhost(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


async def resolve_system(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.raw_host.decode("ascii").lower(), port


class LinkGuard:
    """Checks one provider's links before they are fetched.

    Args:
        base_url: the provider's base URL; decides the trusted origin and which
            non-public class (if any) its links may use.
        resolve: host name to addresses; injectable so tests never need DNS.
    """

    def __init__(self, base_url: str, resolve: Resolver = resolve_system) -> None:
        base = httpx.URL(base_url)
        self._origin = _origin(base)
        self._resolve = resolve
        allowed = {AddressClass.PUBLIC}
        literal = _literal(self._origin[1])
        if literal is not None:
            allowed.add(address_class(literal))
        elif _is_localhost(self._origin[1]):
            allowed.add(AddressClass.LOOPBACK)
        self._allowed = frozenset(allowed - _NEVER)

    async def check(self, url: str) -> tuple[str, list[str]]:
        """``url``'s host and the checked addresses to connect to.

        Raises ``ProviderURLRefused`` saying why (for the operator's log; the
        message names the host and the address class, never the whole URL, whose
        query may be a signed token).
        """
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise ProviderURLRefused("the video link is not a valid URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ProviderURLRefused(
                f"the video link is not http(s) (scheme {parsed.scheme[:10]!r})"
            )
        # The host as it goes on the wire (IDNA), which is what the transport sees.
        host = parsed.raw_host.decode("ascii").lower()
        scheme, _, port = _origin(parsed)
        own = (scheme, host, port) == self._origin
        literal = _literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = list(await self._resolve(host, port or 0))
            except OSError as exc:
                raise ProviderURLRefused(
                    f"the video host {host} does not resolve ({type(exc).__name__})"
                ) from None
        if not addresses:
            raise ProviderURLRefused(f"the video host {host} has no address")
        for raw in addresses:
            try:
                kind = address_class(ipaddress.ip_address(raw))
            except ValueError:
                kind = AddressClass.RESERVED
            if kind in _NEVER or not (own or kind in self._allowed):
                raise ProviderURLRefused(
                    f"the video host {host} is on a {kind.value} address ({raw}), "
                    "which the bot does not fetch from"
                )
        return host, addresses
