"""Routes of a ``Topology``: which gateway each host uses for each subnet it is not on.

Pure logic, no namespaces. The network is a graph of segments: a segment is a subnet (one
link between two hosts, or a switch with the hosts on it) and its members are the hosts with
an address in it; routers (hosts with forwarding on) join the segments they are on.
``compute`` finds, for every host and every subnet it can reach through routers, the first hop
of a shortest path (fewest routers; ties go to the segment and member met first) by a
breadth-first search over segments, one per IP version. A host that is not a router and has a
single gateway gets one default route per IP version instead of one route per subnet.

Routes are computed from scratch from the hosts' addresses as they are: a caller that adds
IPv6 subnets, joins switches or takes links down passes the addresses that are now in use and
calls ``compute`` again. Hosts that are not routers and sit on the same segments share one
search, so the cost grows with the number of routers and of distinct places hosts sit, not
with the number of hosts.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from typing import Hashable, Iterable, Mapping, NamedTuple, Optional, Sequence, TypeVar

from .addressing import Interface, Network

__all__ = ["DEFAULT", "Route", "compute"]

N = TypeVar("N", bound=Hashable)

#: The destination of a default route, per IP version.
DEFAULT: dict[int, Network] = {
    4: ipaddress.IPv4Network("0.0.0.0/0"),
    6: ipaddress.IPv6Network("::/0"),
}


class Route(NamedTuple):
    """A route of one host: to `dst` (a subnet, or ``DEFAULT[version]``) via `via`."""

    dst: Network
    via: str

    @property
    def default(self) -> bool:
        """Whether it is a default route."""
        return self.dst.prefixlen == 0


def compute(addresses: Mapping[N, Sequence[Interface]], routers: Iterable[N]) -> dict[N, list[Route]]:
    """The routes every host needs to reach every subnet it can reach.

    Args:
        addresses: each host's addresses (with their prefix lengths), in link order; a host
            is on the subnets of its addresses, and hosts with addresses in one subnet are on
            one segment.
        routers: the hosts that forward packets between their segments.

    Returns:
        For every host of `addresses`, its routes: per IP version, one route per reachable
        subnet it is not on, nearest first, or a single default route for a host that is not
        a router and has exactly one gateway.
    """
    forwarding = set(routers)
    g = _Graph()
    on = [g.join(i, addresses[node], node in forwarding) for i, node in enumerate(addresses)]
    shared: dict[tuple[int, ...], list[Route]] = {}
    routes: dict[N, list[Route]] = {}
    for i, node in enumerate(addresses):
        if node in forwarding:
            routes[node] = g.search(i, on[i], on, True)
            continue
        key = tuple(on[i])
        if key not in shared:
            shared[key] = g.search(i, on[i], on, False)
        routes[node] = shared[key]
    return routes


class _Graph:
    """The segments, numbered in the order they are met, and the routers on each."""

    def __init__(self) -> None:
        self.number: dict[Network, int] = {}
        self.nets: list[Network] = []
        self.versions: list[int] = []
        #: Per segment: the routers on it (by number) and their addresses there, in order.
        self.gates: list[list[tuple[int, str]]] = []

    def join(self, node: int, ifaces: Sequence[Interface], router: bool) -> list[int]:
        """Puts host number `node` on the segments of its addresses; returns their numbers."""
        mine: list[int] = []
        for iface in ifaces:
            net = iface.network
            seg = self.number.get(net)
            if seg is None:
                seg = self.number[net] = len(self.nets)
                self.nets.append(net)
                self.versions.append(net.version)
                self.gates.append([])
            if router:
                self.gates[seg].append((node, str(iface.ip)))
            if seg not in mine:
                mine.append(seg)
        return mine

    def search(self, node: int, mine: list[int], on: list[list[int]], router: bool) -> list[Route]:
        """The routes of host number `node`, on the segments `mine`: a breadth-first search per
        IP version."""
        routes: list[Route] = []
        versions = self.versions
        for version in (4, 6):
            start = [s for s in mine if versions[s] == version]
            seen = set(start)
            queue: deque[tuple[int, Optional[str]]] = deque((s, None) for s in start)
            found: list[tuple[int, str]] = []
            while queue:
                seg, hop = queue.popleft()
                for other, ip in self.gates[seg]:
                    if other == node:
                        continue
                    first = ip if hop is None else hop
                    for nxt in on[other]:
                        if nxt not in seen and versions[nxt] == version:
                            seen.add(nxt)
                            found.append((nxt, first))
                            queue.append((nxt, first))
            gateways = {via for _, via in found}
            if not router and len(gateways) == 1:
                routes.append(Route(DEFAULT[version], gateways.pop()))
            else:
                routes.extend(Route(self.nets[s], via) for s, via in found)
        return routes
