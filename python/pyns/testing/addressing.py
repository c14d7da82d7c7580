"""Addresses of a ``Topology``: which subnets are in use, the next free one, the n-th address.

Pure logic, no namespaces: ``Subnets`` hands out the next free /24 of 10.0.0.0/8 (in order,
skipping what was reserved explicitly) and refuses overlapping reservations; ``nth`` numbers
the addresses of a subnet; ``mirror`` gives every IPv4 subnet its IPv6 /64 (dual stack):
10.0.<n>.0/24 (the n-th automatic /24, n < 65536) is fd00:0:0:<n in hex>::/64, any other IPv4
subnet a.b.c.d/p is fd00:1:<a.b as hex>:<c.d as hex>::/64, and an address keeps its host
number (10.0.3.2 -> fd00:0:0:3::2). Automatic subnets are kept as their index, so handing one out takes
constant time however many a topology has; explicit ones (usually few) are kept in a list.
"""

from __future__ import annotations

import ipaddress
from typing import Optional, Union

__all__ = [
    "AUTO", "MIRROR", "Interface", "Network", "Subnets", "interface", "mirror", "mirror_address",
    "network", "nth",
]

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Interface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]

#: Where IPv4 subnets come from when none is given: its /24s, in order.
AUTO = ipaddress.IPv4Network("10.0.0.0/8")
#: Where the IPv6 twins of IPv4 subnets live (``mirror``).
MIRROR = ipaddress.IPv6Network("fd00::/31")


def mirror(net: ipaddress.IPv4Network) -> ipaddress.IPv6Network:
    """The IPv6 /64 that goes with an IPv4 subnet on the same link (dual stack).

    Distinct IPv4 subnets that do not overlap get distinct /64s: the n-th /24 of 10.0.0.0/8
    (10.0.<n>.0/24 for n < 256) gets fd00:0:0:<n in hex>::/64; any other subnet gets
    fd00:1:<its network address in two groups>::/64 (192.168.7.0/24 -> fd00:1:c0a8:700::/64).

    Args:
        net: the IPv4 subnet.

    Returns:
        Its /64, inside ``MIRROR`` (fd00::/31).
    """
    base = int(MIRROR.network_address)
    # not net.subnet_of(AUTO): it caches broadcast addresses on `net`, ~200 B per subnet
    if net.prefixlen == 24 and net.network_address in AUTO:
        n = (int(net.network_address) - int(AUTO.network_address)) >> 8
        return ipaddress.IPv6Network((base + (n << 64), 64))
    return ipaddress.IPv6Network((base + (1 << 96) + (int(net.network_address) << 64), 64))


def mirror_address(iface: ipaddress.IPv4Interface, net6: ipaddress.IPv6Network) -> ipaddress.IPv6Interface:
    """The IPv6 twin of an IPv4 address in `net6` (its ``mirror``): the same host number.

    Args:
        iface: the IPv4 address with its prefix length (``10.0.3.2/24``).
        net6: the /64 of its subnet.

    Returns:
        The IPv6 address with prefix length 64 (``fd00:0:0:3::2/64``).
    """
    host = int(iface.ip) - int(iface.network.network_address)
    twin = ipaddress.IPv6Interface((int(net6.network_address) + host, net6.prefixlen))
    twin.network = net6  # an equal object: share it, as `nth` does
    return twin


def network(subnet: object, what: str) -> Network:
    """Reads a subnet given as a str or an ``ipaddress`` network.

    Args:
        subnet: ``"10.0.0.0/24"``, ``"fd00::/64"`` or an ``IPv4Network``/``IPv6Network``.
        what: the argument's name, for the error.

    Returns:
        The network.

    Raises:
        TypeError: not a str or network.
        ValueError: not a network (host bits set, a bad prefix length, ...).
    """
    if not isinstance(subnet, (str, ipaddress.IPv4Network, ipaddress.IPv6Network)):
        raise TypeError(f"{what} must be a str like '10.0.0.0/24', not {type(subnet).__name__}")
    try:
        return ipaddress.ip_network(subnet)
    except ValueError as e:
        raise ValueError(f"bad {what} {subnet!r}: {e}") from None


def interface(cidr: object, what: str = "addresses") -> Interface:
    """Reads an address in CIDR form (``"10.0.0.1/24"``).

    Args:
        cidr: the address with its prefix length, as a str.
        what: the argument's name, for the error.

    Returns:
        The interface (address and network).

    Raises:
        TypeError: not a str.
        ValueError: not an address.
    """
    if not isinstance(cidr, str):
        raise TypeError(f"{what} must be strs like '10.0.0.1/24', not {cidr!r}")
    try:
        return ipaddress.ip_interface(cidr)
    except ValueError as e:
        raise ValueError(f"bad address {cidr!r}: {e}") from None


def nth(net: Network, n: int) -> Interface:
    """The n-th address of `net` (1-based), as an interface with its prefix length.

    The network's own address is number 0; an IPv4 broadcast address (prefixes up to /30) is
    never handed out.

    Args:
        net: the subnet.
        n: which address, from 1.

    Returns:
        The interface.

    Raises:
        ValueError: `n` is below 1, or the subnet has no room for it.
    """
    if n < 1:
        raise ValueError(f"address numbers start at 1, not {n}")
    addr = int(net.network_address) + n
    # not net.broadcast_address: a cached property, it would keep two more objects per subnet
    last = int(net.network_address) + (1 << (net.max_prefixlen - net.prefixlen)) - 1
    if net.version == 4 and net.prefixlen < 31:
        last -= 1
    if addr > last:
        raise ValueError(f"subnet {net} has no room for an address number {n}")
    iface: Interface
    if net.version == 4:
        iface = ipaddress.IPv4Interface((addr, net.prefixlen))
    else:
        iface = ipaddress.IPv6Interface((addr, net.prefixlen))
    iface.network = net  # an equal object: share it (a big topology keeps many addresses)
    return iface


class _Pool:
    """The automatic subnets of one IP version: the /`prefixlen`s of `base`, by index."""

    def __init__(self, base: Network, prefixlen: int) -> None:
        if not base.prefixlen <= prefixlen <= base.max_prefixlen:
            raise ValueError(f"cannot cut /{prefixlen} subnets out of {base}")
        self.base = base
        self.prefixlen = prefixlen
        self.shift = base.max_prefixlen - prefixlen
        self.size = 1 << (prefixlen - base.prefixlen)
        self.next = 0
        self.used: set[int] = set()

    def subnet(self, n: int) -> Network:
        return ipaddress.ip_network((int(self.base.network_address) + (n << self.shift), self.prefixlen))

    def index(self, net: Network) -> Optional[int]:
        """The index of `net` among the subnets, if it is one."""
        if not net.subnet_of(self.base):  # type: ignore[arg-type]
            return None
        return (int(net.network_address) - int(self.base.network_address)) >> self.shift

    def taken_within(self, net: Network) -> Optional[int]:
        """The index of a handed-out subnet that overlaps `net`, if any."""
        if net.version != self.base.version or not net.overlaps(self.base):  # type: ignore[arg-type]
            return None
        base = int(self.base.network_address)
        first = max(int(net.network_address), base)
        last = min(int(net.broadcast_address), int(self.base.broadcast_address))
        lo, hi = (first - base) >> self.shift, (last - base) >> self.shift
        if hi - lo < len(self.used):
            return next((n for n in range(lo, hi + 1) if n in self.used), None)
        return next((n for n in self.used if lo <= n <= hi), None)


class Subnets:
    """The subnets of one topology: automatic ones (the next free /24 of 10.0.0.0/8, in
    order) and explicit ones, none overlapping another.

    Args:
        auto: where automatic subnets of each IP version come from: ``{version: (base,
            prefixlen)}``; default: IPv4 /24s of 10.0.0.0/8, no automatic IPv6 subnets.

    Raises:
        ValueError: a base that cannot be cut into subnets of that length.
    """

    def __init__(self, auto: Optional[dict[int, tuple[Network, int]]] = None) -> None:
        if auto is None:
            auto = {4: (AUTO, 24)}
        self._pools = {v: _Pool(base, plen) for v, (base, plen) in auto.items()}
        self._explicit: list[Network] = []
        #: The /64s handed out by ``twin``, by their IPv4 subnet.
        self._twins: dict[Network, ipaddress.IPv6Network] = {}

    def twin(self, net: Network) -> Optional[ipaddress.IPv6Network]:
        """Reserves the IPv6 /64 of the IPv4 subnet `net` (its ``mirror``) for the same link.

        Args:
            net: a subnet that ``claim``/``reserve`` handed out.

        Returns:
            The /64; None for an IPv6 subnet, or when an explicit IPv6 subnet overlaps it
            (the link then has only its IPv4 address).
        """
        if net.version != 4:
            return None
        assert isinstance(net, ipaddress.IPv4Network)
        net6 = mirror(net)
        if any(u.version == 6 and net6.overlaps(u) for u in self._explicit):  # type: ignore[arg-type]
            return None
        self._twins[net] = net6
        return net6

    def claim(self, subnet: Union[None, str, Network] = None, *, version: int = 4) -> Network:
        """Reserves `subnet`, or the next free automatic subnet.

        Args:
            subnet: the subnet to reserve; None for the next automatic one.
            version: the IP version of an automatic subnet.

        Returns:
            The reserved subnet.

        Raises:
            TypeError, ValueError: a bad subnet.
            ValueError: it overlaps a reserved one, or no automatic subnet is left.
        """
        if subnet is not None:
            net = network(subnet, "subnet")
            self.reserve(net)
            return net
        pool = self._pools.get(version)
        if pool is None:
            raise ValueError(f"no automatic IPv{version} subnets: give subnet=")
        while True:
            n = pool.next
            if n >= pool.size:
                raise ValueError(
                    f"no free /{pool.prefixlen} left in {pool.base} for another subnet"
                )
            pool.next += 1
            candidate = pool.subnet(n)
            if not any(candidate.overlaps(u) for u in self._explicit):  # type: ignore[arg-type]
                break
        pool.used.add(n)
        return candidate

    def reserve(self, net: Network) -> None:
        """Reserves the explicit subnet `net`.

        Args:
            net: the subnet.

        Raises:
            ValueError: it overlaps a reserved subnet.
        """
        for u in self._explicit:
            if u.version == net.version and net.overlaps(u):  # type: ignore[arg-type]
                raise ValueError(f"subnet {net} overlaps {u}, used already")
        if net.version == 6 and net.overlaps(MIRROR):  # type: ignore[arg-type]
            for u in self._twins.values():
                if net.overlaps(u):  # type: ignore[arg-type]
                    raise ValueError(f"subnet {net} overlaps {u}, used already (by IPv6 twins)")
        pool = self._pools.get(net.version)
        n = None if pool is None else pool.taken_within(net)
        if pool is not None and n is not None:
            raise ValueError(f"subnet {net} overlaps {pool.subnet(n)}, used already")
        self._explicit.append(net)

    def release(self, net: Network) -> None:
        """Gives back a subnet that `claim` or `reserve` handed out (after the link it was for
        could not be made): the next automatic subnet is this one again if it was the last.

        Args:
            net: the subnet (its IPv6 twin goes with it).
        """
        self._twins.pop(net, None)
        pool = self._pools.get(net.version)
        if pool is not None and net.prefixlen == pool.prefixlen:
            n = pool.index(net)
            if n is not None and n in pool.used:
                pool.used.discard(n)
                if n == pool.next - 1:
                    pool.next = n
                return
        if net in self._explicit:
            self._explicit.remove(net)
