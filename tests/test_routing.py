"""pyns.testing.routing: routes over segments joined by routers, checked by forwarding packets
hop by hop in a model of the network (no root, no namespaces)."""

from __future__ import annotations

import ipaddress
from collections import deque
from typing import Optional

from hypothesis import given, settings, strategies as st

from pyns.testing.addressing import Interface, Network, Subnets, nth
from pyns.testing.routing import DEFAULT, Route, compute


def wire(segments: list[list[str]], v6: bool = False) -> dict[str, list[Interface]]:
    """Addresses for nodes on `segments` (lists of node names): a subnet per segment, the
    n-th member gets its n-th address (an IPv6 /64 per segment as well with `v6`)."""
    pools = {4: (ipaddress.ip_network("10.0.0.0/8"), 24), 6: (ipaddress.ip_network("fd00::/48"), 64)}
    subnets = Subnets(pools)  # type: ignore[arg-type]
    addresses: dict[str, list[Interface]] = {}
    for members in segments:
        nets = [subnets.claim()] + ([subnets.claim(version=6)] if v6 else [])
        for i, node in enumerate(members):
            for net in nets:
                addresses.setdefault(node, []).append(nth(net, i + 1))
    return addresses


def r(dst: str, via: str) -> Route:
    return Route(ipaddress.ip_network(dst), via)


def test_a_host_behind_one_router_gets_a_default_route() -> None:
    addrs = wire([["a", "r"], ["r", "b"]])
    routes = compute(addrs, ["r"])
    assert routes == {"a": [r("0.0.0.0/0", "10.0.0.2")], "r": [], "b": [r("0.0.0.0/0", "10.0.1.1")]}
    assert routes["a"][0].dst == DEFAULT[4] and routes["a"][0].default and not Route(ipaddress.ip_network("10.0.0.0/24"), "x").default


def test_two_routers_and_a_star() -> None:
    addrs = wire([["a", "r1"], ["r1", "r2"], ["r2", "b"], ["s0", "r2"], ["s1", "r2"]])
    routes = compute(addrs, ["r1", "r2"])
    assert routes["r1"] == [r(f"10.0.{i}.0/24", "10.0.1.2") for i in (2, 3, 4)]
    assert routes["r2"] == [r("10.0.0.0/24", "10.0.1.1")]
    assert routes["s1"] == [r("0.0.0.0/0", "10.0.4.2")]


def test_a_host_with_two_ways_out_gets_a_route_per_subnet() -> None:
    addrs = wire([["h", "r1"], ["h", "r2"], ["r1", "x"], ["r2", "y"]])
    routes = compute(addrs, ["r1", "r2"])
    assert routes["h"] == [r("10.0.2.0/24", "10.0.0.2"), r("10.0.3.0/24", "10.0.1.2")]


def test_without_routers_there_are_no_routes() -> None:
    addrs = wire([["a", "b"], ["b", "c"]])
    assert compute(addrs, []) == {"a": [], "b": [], "c": []}


def test_ipv6_is_routed_on_its_own() -> None:
    addrs = wire([["a", "r"], ["r", "b"]], v6=True)
    routes = compute(addrs, ["r"])
    assert routes["a"] == [r("0.0.0.0/0", "10.0.0.2"), r("::/0", "fd00::2")]
    assert routes["b"] == [r("0.0.0.0/0", "10.0.1.1"), r("::/0", "fd00:0:0:1::1")]


def test_a_link_taken_away_is_routed_around() -> None:
    ring = [["a", "r1"], ["r1", "r2"], ["r2", "r3"], ["r3", "r1"], ["r3", "b"]]
    addrs = wire(ring)
    assert compute(addrs, ["r1", "r2", "r3"])["r1"][-1] == r("10.0.4.0/24", "10.0.3.1")
    # r3-r1 goes down: the caller passes the addresses still in use
    down = ipaddress.ip_network("10.0.3.0/24")
    up = {n: [i for i in ifaces if i.network != down] for n, ifaces in addrs.items()}
    assert compute(up, ["r1", "r2", "r3"])["r1"][-1] == r("10.0.4.0/24", "10.0.1.2")


def test_hosts_on_one_switch_share_their_routes() -> None:
    addrs = wire([["r", *(f"h{i}" for i in range(200))], ["r", "far"]])
    routes = compute(addrs, ["r"])
    assert routes["h0"] is routes["h199"] and routes["h7"] == [r("0.0.0.0/0", "10.0.0.1")]


# ------------------------------------------------------------------ a model of forwarding


class Model:
    """A model of the network: who has which address, who is on which subnet."""

    def __init__(self, addresses: dict[str, list[Interface]], routers: set[str]) -> None:
        self.addresses = addresses
        self.routers = routers
        self.owner = {i.ip: n for n, ifaces in addresses.items() for i in ifaces}
        self.nets = {n: {i.network for i in ifaces} for n, ifaces in addresses.items()}

    def forward(self, routes: dict[str, list[Route]], src: str, target: Interface) -> Optional[int]:
        """How many routers a packet from `src` to `target` passes, or None if it is dropped:
        connected subnets first, then the longest matching route; a host that is not a router
        drops what is not for it."""
        node, hops = src, 0
        while True:
            if any(target.ip in net for net in self.nets[node]):
                return hops
            matches = [rt for rt in routes[node] if rt.dst.version == target.version and target.ip in rt.dst]
            if not matches:
                return None
            via = ipaddress.ip_address(max(matches, key=lambda rt: rt.dst.prefixlen).via)
            assert any(via in net for net in self.nets[node]), f"{node}: gateway {via} is on none of its subnets"
            node = self.owner[via]
            if node not in self.routers:
                return None
            hops += 1
            assert hops <= len(self.addresses), "a routing loop"

    def distances(self, src: str) -> dict[Network, int]:
        """The fewest routers between `src` and each subnet it can reach (breadth-first)."""
        start = self.nets[src]
        found = dict.fromkeys(start, 0)
        queue: deque[Network] = deque(start)
        while queue:
            seg = queue.popleft()
            for node in self.routers - {src}:
                if seg in self.nets[node]:
                    for nxt in self.nets[node] - found.keys():
                        found[nxt] = found[seg] + 1
                        queue.append(nxt)
        return found


@st.composite
def networks(draw: st.DrawFn, all_routers: bool = False) -> tuple[list[list[str]], set[str]]:
    """A connected network: a random tree of links and switches, plus a few extra ones."""
    n = draw(st.integers(2, 9))
    names = [f"n{i}" for i in range(n)]
    segments = []
    for i in range(1, n):
        others = draw(st.lists(st.sampled_from(names[:i]), min_size=1, max_size=3, unique=True))
        segments.append([names[i], *others])
    for _ in range(draw(st.integers(0, 3))):
        segments.append(draw(st.lists(st.sampled_from(names), min_size=2, max_size=4, unique=True)))
    if all_routers:  # every node on more than one segment forwards
        routers = {x for x in names if sum(x in s for s in segments) > 1}
    else:
        routers = set(draw(st.lists(st.sampled_from(names), unique=True)))
    return segments, routers


@settings(max_examples=50, deadline=None)
@given(networks(), st.booleans())
def test_packets_take_shortest_paths_wherever_a_path_exists(
    net: tuple[list[list[str]], set[str]], v6: bool
) -> None:
    segments, routers = net
    addresses = wire(segments, v6)
    routes = compute(addresses, routers)
    model = Model(addresses, routers)
    for src in addresses:
        distances = model.distances(src)
        for target in (t for ifaces in addresses.values() for t in ifaces):
            hops = model.forward(routes, src, target)
            assert hops == distances.get(target.network), (src, str(target), routes[src])


@settings(max_examples=50, deadline=None)
@given(networks(all_routers=True), st.booleans())
def test_every_host_reaches_every_other_when_junctions_route(
    net: tuple[list[list[str]], set[str]], v6: bool
) -> None:
    segments, routers = net
    addresses = wire(segments, v6)
    routes = compute(addresses, routers)
    model = Model(addresses, routers)
    for src in addresses:
        for target in (t for ifaces in addresses.values() for t in ifaces):
            assert model.forward(routes, src, target) is not None, (src, str(target))


def test_dual_stack_twins_route_like_their_ipv4_subnets() -> None:
    """With every subnet's IPv6 twin (addressing.mirror), each IPv4 route has an IPv6 one
    through the same router, in the same order."""
    from pyns.testing.addressing import mirror, mirror_address

    segments = [["h", "r1"], ["h", "r2"], ["r1", "x"], ["r2", "y"], ["x", "r3"], ["r3", "z"]]
    v4 = wire(segments)
    dual = {
        node: [a for x in ifaces for a in (x, mirror_address(x, mirror(x.network)))]  # type: ignore[arg-type]
        for node, ifaces in v4.items()
    }
    routers = ["r1", "r2", "r3"]
    routes = compute(dual, routers)
    for node, found in routes.items():
        four = [x for x in found if x.dst.version == 4]
        six = [x for x in found if x.dst.version == 6]
        assert four == compute(v4, routers)[node]
        assert [twin(x) for x in four] == six


def twin(route: Route) -> Route:
    """The IPv6 twin of an IPv4 route between /24s."""
    via = ipaddress.IPv4Interface(f"{route.via}/24")
    from pyns.testing.addressing import mirror, mirror_address

    gateway = str(mirror_address(via, mirror(via.network)).ip)
    dst = DEFAULT[6] if route.default else mirror(route.dst)  # type: ignore[arg-type]
    return Route(dst, gateway)
