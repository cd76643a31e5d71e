"""The client's address, as throttling and the activity log see it.

The socket's peer, unless that peer is one of ``settings.trusted_proxies``: then the
``X-Forwarded-For`` chain names the client.  Each proxy appends the address it received the
request from, so the chain is read from the right and the first address that is not a trusted
proxy is the client; anything to its left was written by the client itself and could be forged.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Iterable

from aiohttp import web

from jaan.state import SETTINGS

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger(__name__)
_ADDRESS: web.RequestKey[str] = web.RequestKey("client_address")
UNKNOWN = "unknown"


@functools.lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    """The trusted proxies as networks: each entry an address (10.0.0.5) or a network (10.0.0.0/8).

    An entry that is neither is skipped (and logged): trusting less never lets a client forge its address.
    """
    networks = []
    for proxy in filter(None, (p.strip() for p in proxies)):
        try:
            networks.append(ipaddress.ip_network(proxy, strict=False))
        except ValueError:
            log.warning("trusted_proxies: %r is not an address or network; ignored", proxy)
    return tuple(networks)


def parse_address(text: str) -> IpAddress | None:
    """An address as peers and proxies write it (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``), else None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 has several colons
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
    return address


def _is_trusted(address: IpAddress, networks: Iterable[IpNetwork]) -> bool:
    return any(address in network for network in networks)


def resolve(peer: str | None, forwarded_for: Iterable[str], proxies: tuple[str, ...]) -> str:
    """The client address of a request from `peer` carrying the given X-Forwarded-For headers."""
    peer_address = parse_address(peer) if peer else None
    if peer_address is None:
        return UNKNOWN
    networks = trusted_networks(proxies)
    if not networks or not _is_trusted(peer_address, networks):
        return str(peer_address)
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    client = peer_address
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break  # garbage: nothing further left can be believed; the last good hop stands
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)


def client_address(request: web.Request) -> str:
    """The address of the client of `request` (computed once per request)."""
    if _ADDRESS not in request:
        forwarded = request.headers.getall("X-Forwarded-For", [])
        # request.remote is the socket's peer (no middleware here rewrites it).
        request[_ADDRESS] = resolve(request.remote, forwarded, request.app[SETTINGS].trusted_proxies)
    return request[_ADDRESS]


def limit_key(address: str) -> str:
    """The key an address is counted under by rate limits: an IPv6 client's /64, an IPv4 address.

    One IPv6 customer gets a whole /64 (or more) and rotates through it for free: counting each
    /128 apart would count nothing.
    """
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed) if parsed is not None else address
