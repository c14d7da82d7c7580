"""``Topology``: hosts, routers and switches in their own namespaces, joined by veth links.

Every node is a set of namespaces set up from inside by the calling thread, which comes back
(or by a short-lived helper thread where it could not), and held by file descriptors (no
process runs in it). A link is a veth pair created with both ends born inside
the two nodes' network namespaces, so nothing ever passes through, or is configured in, the
caller's network namespace. Closing the topology kills what its hosts spawned and closes the
descriptors; the kernel then removes the namespaces and their links.
"""

from __future__ import annotations

import ipaddress
import os
from collections import deque
from typing import Optional, Union

from .. import _native, net
from .._native import Namespace
from ..process import Process
from .nodes import Host, Interface as _Interface, Network as _Network, Switch, Veth, _Node

__all__ = ["Host", "Switch", "Topology", "Veth"]

#: Where subnets come from when none is given: its /24s, in order.
_AUTO = ipaddress.IPv4Network("10.0.0.0/8")
_AUTO_BASE = int(_AUTO.network_address)

#: The bridge inside every switch's network namespace.
BRIDGE = "br0"


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a node name must be a str, not {type(name).__name__}")
    if not name or "/" in name or "\0" in name or len(name.encode()) > 64:
        raise ValueError(
            f"bad node name {name!r}: it becomes the hostname, so 1 to 64 bytes, no '/' or NUL"
        )
    return name


def _network(subnet: object, what: str) -> _Network:
    if not isinstance(subnet, (str, ipaddress.IPv4Network, ipaddress.IPv6Network)):
        raise TypeError(f"{what} must be a str like '10.0.0.0/24', not {type(subnet).__name__}")
    try:
        return ipaddress.ip_network(subnet)
    except ValueError as e:
        raise ValueError(f"bad {what} {subnet!r}: {e}") from None


def _nth(network: _Network, n: int) -> _Interface:
    """The n-th address of `network` (1-based), as an interface with its prefix length."""
    addr = int(network.network_address) + n
    last = int(network.broadcast_address)
    if network.version == 4 and network.prefixlen < 31:
        last -= 1
    if addr > last:
        raise ValueError(f"subnet {network} has no room for an address number {n}")
    if network.version == 4:
        return ipaddress.IPv4Interface((addr, network.prefixlen))
    return ipaddress.IPv6Interface((addr, network.prefixlen))


class Topology:
    """Hosts, routers and switches joined by links, torn down on exit.

    Use it as a context manager (or call ``close()``). On exit, also after an exception or
    Ctrl-C, programs spawned in hosts are killed and every namespace handle is closed; the
    kernel then removes the namespaces and their links. If the Python process dies, even by
    SIGKILL, the same happens by itself: the namespaces are held only by the process's file
    descriptors, and spawned programs get SIGKILL when their parent thread dies (pdeathsig).

    Addresses are deterministic: each link without ``subnet=`` gets the next free /24 of
    10.0.0.0/8 (10.0.0.0/24, 10.0.1.0/24, ...); ``a`` gets .1, ``b`` gets .2. Once a router
    (``t.router(name)`` or ``t.host(name, forwarding=True)``) is part of the topology, routes
    are kept up to date after every link: each host reaches every subnet (shortest path; a
    host with a single way out gets a default route).

    Args:
        prefix: the prefix of the names under /run/netns when ``persist=True``
            (``<prefix>-<node>``).
        persist: also bind-mount each node's network namespace at /run/netns/<prefix>-<node>,
            so that ``ip netns exec`` reaches it, and it outlives the topology (remove with
            ``pyns.netns.remove`` or ``ip netns del``). Needs root.
    """

    def __init__(self, prefix: str = "pyns", *, persist: bool = False) -> None:
        if not isinstance(prefix, str) or not prefix or "/" in prefix:
            raise ValueError(f"prefix must be a non-empty str without '/', not {prefix!r}")
        self.prefix = prefix
        self.persist = bool(persist)
        self._nodes: dict[str, _Node] = {}
        self._links: list[Veth] = []
        self._processes: list[Process] = []
        self._explicit: list[_Network] = []
        self._auto_used: set[int] = set()
        self._auto = 0
        self._routes: dict[Host, dict[str, str]] = {}
        self._routers = 0
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._nodes)} nodes, {len(self._links)} links"
        return f"<pyns.testing.Topology {state}>"

    def _repr_html_(self) -> str:
        from ..display import topology_html

        return f"<div>{self._repr_svg_()}</div>" + topology_html(self)

    def _repr_svg_(self) -> str:
        from .drawing import topology_svg

        return topology_svg(self)

    def draw(self, path: Union[str, os.PathLike[str]]) -> None:
        """Writes a picture of the topology to `path`, as a standalone SVG file.

        Hosts are boxes, routers circles, switches hexagons; links carry their interface
        names and addresses, a partitioned link is dashed and red, a shaped one labelled
        with its shape. The same picture Jupyter shows (``_repr_svg_``).

        Args:
            path: the file to write (``"net.svg"``); replaced if it exists.

        Raises:
            OSError: the file could not be written.
        """
        with open(path, "w", encoding="utf-8") as f:
            f.write(self._repr_svg_())

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ nodes

    @property
    def hosts(self) -> list[Host]:
        """The hosts and routers, in creation order."""
        return [n for n in self._nodes.values() if isinstance(n, Host)]

    @property
    def switches(self) -> list[Switch]:
        """The switches, in creation order."""
        return [n for n in self._nodes.values() if isinstance(n, Switch)]

    @property
    def links(self) -> list[Veth]:
        """The links, in creation order."""
        return list(self._links)

    def __getitem__(self, name: str) -> Union[Host, Switch]:
        node = self._nodes[name]
        assert isinstance(node, (Host, Switch))
        return node

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("this topology is closed")

    def _new_name(self, name: object) -> str:
        self._check_open()
        name = _check_name(name)
        if name in self._nodes:
            raise ValueError(f"the topology has a node named {name!r} already")
        return name

    def _persist(self, name: str, ns: Namespace) -> None:
        if self.persist:
            _native.netns_persist(ns, f"{self.prefix}-{name}")

    def host(self, name: str, *, mnt: bool = False, forwarding: bool = False) -> Host:
        """Adds a host: new network and UTS namespaces (hostname = `name`), ``lo`` up.

        Args:
            name: a name unique in the topology; also the hostname.
            mnt: give it a mount namespace too (``/`` recursively private): mounts made by its
                programs stay inside.
            forwarding: let it route between its links (IPv4 and IPv6), like ``router()``.

        Returns:
            The ``Host``.

        Raises:
            ValueError: a bad or duplicate name, or the topology is closed.
            PermissionError: without CAP_SYS_ADMIN (root, or inside a user namespace).
        """
        name = self._new_name(name)
        net_ns, uts, mntns = _native.net_node(name, bool(mnt), bool(forwarding))
        handles = {"net": net_ns}
        for kind, ns in (("uts", uts), ("mnt", mntns)):
            if ns is not None:
                handles[kind] = ns
        host = Host(self, name, handles, bool(forwarding))
        self._nodes[name] = host
        self._routers += host.forwarding
        self._persist(name, net_ns)
        return host

    def router(self, name: str, *, mnt: bool = False) -> Host:
        """Adds a router: a host with forwarding on.

        Args:
            name: a name unique in the topology; also the hostname.
            mnt: give it a mount namespace too.

        Returns:
            The ``Host``.

        Raises:
            ValueError: a bad or duplicate name.
            PermissionError: without CAP_SYS_ADMIN.
        """
        return self.host(name, mnt=mnt, forwarding=True)

    def switch(self, name: str, *, subnet: Union[None, str, _Network] = None) -> Switch:
        """Adds a switch: a bridge ``br0`` in a network namespace of its own.

        Args:
            name: a name unique in the topology.
            subnet: the subnet of the hosts linked to it; default: the next free /24.

        Returns:
            The ``Switch``.

        Raises:
            ValueError: a bad or duplicate name, or a bad or overlapping subnet.
            PermissionError: without CAP_SYS_ADMIN.
        """
        name = self._new_name(name)
        network = self._claim(subnet)
        net_ns, _, _ = _native.net_node(None, False, False)
        try:
            net.bridge(BRIDGE, netns=net_ns)
            net.set_link(BRIDGE, up=True, netns=net_ns)
        except BaseException:
            net_ns.close()
            raise
        sw = Switch(self, name, {"net": net_ns}, network)
        self._nodes[name] = sw
        self._persist(name, net_ns)
        return sw

    def _node(self, node: Union[str, _Node], what: str) -> _Node:
        if isinstance(node, str):
            try:
                return self._nodes[node]
            except KeyError:
                raise LookupError(f"{what}: the topology has no node named {node!r}") from None
        if not isinstance(node, _Node):
            raise TypeError(f"{what} must be a Host, a Switch or a node name, not {node!r}")
        if node._topology is not self:
            raise ValueError(f"{what} {node.name!r} belongs to another topology")
        return node

    # ------------------------------------------------------------------ addressing

    def _claim(self, subnet: Union[None, str, _Network]) -> _Network:
        """Reserves `subnet`, or the next free /24 of 10.0.0.0/8 (in constant time: auto
        subnets are kept as their index, explicit ones, usually few, in a list)."""
        if subnet is None:
            while True:
                n = self._auto
                self._auto += 1
                if n >= 65536:
                    raise ValueError("no free /24 left in 10.0.0.0/8 for another subnet")
                candidate = ipaddress.IPv4Network((_AUTO_BASE + (n << 8), 24))
                if not any(candidate.overlaps(u) for u in self._explicit):  # type: ignore[arg-type]
                    break
            self._auto_used.add(n)
            return candidate
        candidate = _network(subnet, "subnet")
        self._reserve(candidate)
        return candidate

    def _reserve(self, network: _Network) -> None:
        for u in self._explicit:
            if u.version == network.version and network.overlaps(u):  # type: ignore[arg-type]
                raise ValueError(f"subnet {network} overlaps {u}, used already")
        if network.version == 4 and network.overlaps(_AUTO):  # type: ignore[arg-type]
            first = max(int(network.network_address), int(_AUTO.network_address))
            last = min(int(network.broadcast_address), int(_AUTO.broadcast_address))
            lo, hi = (first - _AUTO_BASE) >> 8, (last - _AUTO_BASE) >> 8
            taken = (range(lo, hi + 1) if hi - lo < len(self._auto_used) else self._auto_used)
            for n in taken:
                if lo <= n <= hi and n in self._auto_used:
                    raise ValueError(
                        f"subnet {network} overlaps 10.{n >> 8}.{n & 255}.0/24, used already"
                    )
        self._explicit.append(network)

    def link(
        self,
        a: Union[str, _Node],
        b: Union[str, _Node],
        *,
        subnet: Union[None, str, _Network] = None,
        addresses: Optional[tuple[str, str]] = None,
        mtu: Optional[int] = None,
    ) -> Veth:
        """Links two nodes by a veth pair whose ends are born inside their namespaces, up.

        Between hosts, `a` gets the subnet's first address and `b` its second; a host linked
        to a switch gets the switch subnet's next address and its end becomes a port of the
        switch's bridge. Ends are named ``eth0``, ``eth1``, ... in each node, in link order.

        Args:
            a, b: the nodes (``Host``, ``Switch`` or name); not two switches.
            subnet: the link's subnet (host to host); default: the next free /24.
            addresses: explicit ``(a's, b's)`` addresses in CIDR form, instead of `subnet`.
            mtu: the MTU of both ends.

        Returns:
            The ``Veth``.

        Raises:
            ValueError: the same node twice, two switches, a bad or overlapping subnet,
                addresses with a switch, or a closed topology.
            LookupError: no node of that name.
            OSError: the kernel refused (PermissionError without CAP_NET_ADMIN).
        """
        self._check_open()
        na, nb = self._node(a, "a"), self._node(b, "b")
        if na is nb:
            raise ValueError(f"cannot link {na.name!r} to itself")
        if isinstance(na, Switch) and isinstance(nb, Switch):
            raise ValueError("cannot link two switches: join their subnets through a router")
        if mtu is not None and (isinstance(mtu, bool) or not isinstance(mtu, int) or mtu < 68):
            raise ValueError(f"mtu must be an int of at least 68, not {mtu!r}")
        sw = na if isinstance(na, Switch) else nb if isinstance(nb, Switch) else None
        if sw is not None and (subnet is not None or addresses is not None):
            raise ValueError("a link to a switch takes the switch's subnet: no subnet/addresses")
        ifaces: tuple[Optional[_Interface], Optional[_Interface]]
        if sw is not None:
            assert isinstance(sw, Switch)
            host = nb if sw is na else na
            sw._hosts += 1
            mine = _nth(sw.subnet, sw._hosts)
            network = sw.subnet
            ifaces = (None, mine) if sw is na else (mine, None)
            names = (na._next_ifname(), nb._next_ifname())
            if sw is na:
                self._wire(sw, host, names, ifaces, mtu)
            else:  # made from the switch's side, where the bridge is
                self._wire(sw, host, (names[1], names[0]), (ifaces[1], ifaces[0]), mtu)
        else:
            if addresses is not None:
                if subnet is not None:
                    raise ValueError("give subnet= or addresses=, not both")
                ia, ib = (self._interface(x) for x in addresses)
                network = ia.network
                if ib.network.version != network.version:
                    raise ValueError(f"addresses {addresses} mix IPv4 and IPv6")
                self._reserve(network)
            else:
                network = self._claim(subnet)
                ia, ib = _nth(network, 1), _nth(network, 2)
            ifaces = (ia, ib)
            names = (na._next_ifname(), nb._next_ifname())
            self._wire(na, nb, names, (ia, ib), mtu)
        veth = Veth(na, nb, names, network, ifaces)
        for node, iface in zip((na, nb), ifaces):
            node.links.append(veth)
            if iface is not None:
                assert isinstance(node, Host)
                node._addresses.append((veth.ifname(node), iface))
        self._links.append(veth)
        if self._routers:
            self.route()
        return veth

    @staticmethod
    def _interface(cidr: object) -> _Interface:
        if not isinstance(cidr, str):
            raise TypeError(f"addresses must be strs like '10.0.0.1/24', not {cidr!r}")
        try:
            return ipaddress.ip_interface(cidr)
        except ValueError as e:
            raise ValueError(f"bad address {cidr!r}: {e}") from None

    @staticmethod
    def _wire(
        a: _Node,
        b: _Node,
        names: tuple[str, str],
        ifaces: tuple[Optional[_Interface], Optional[_Interface]],
        mtu: Optional[int],
    ) -> None:
        """The veth from `a`'s side, its peer born in `b`; a switch's end is a bridge port."""
        _native.net_wire(
            names[0],
            names[1],
            a.netns,
            b.netns,
            None if ifaces[0] is None else str(ifaces[0]),
            None if ifaces[1] is None else str(ifaces[1]),
            mtu,
            BRIDGE if isinstance(a, Switch) else None,
        )

    # ------------------------------------------------------------------ routing

    def _segments(self) -> tuple[dict[_Network, list[tuple[Host, str]]], dict[Host, list[_Network]]]:
        members: dict[_Network, list[tuple[Host, str]]] = {}
        of: dict[Host, list[_Network]] = {h: [] for h in self.hosts}
        for h in of:
            for _, iface in h._addresses:
                members.setdefault(iface.network, []).append((h, str(iface.ip)))
                if iface.network not in of[h]:
                    of[h].append(iface.network)
        return members, of

    def _wanted_routes(self) -> dict[Host, dict[str, str]]:
        members, of = self._segments()
        wanted: dict[Host, dict[str, str]] = {}
        for h, connected in of.items():
            routes: dict[str, str] = {}
            for version in (4, 6):
                mine = [s for s in connected if s.version == version]
                seen = set(mine)
                queue: deque[tuple[_Network, Optional[str]]] = deque((s, None) for s in mine)
                found: dict[_Network, str] = {}
                while queue:
                    seg, hop = queue.popleft()
                    for other, ip in members[seg]:
                        if other is h or not other.forwarding:
                            continue
                        first = hop if hop is not None else ip
                        for nxt in of[other]:
                            if nxt.version == version and nxt not in seen:
                                seen.add(nxt)
                                found[nxt] = first
                                queue.append((nxt, first))
                gateways = set(found.values())
                if not h.forwarding and len(gateways) == 1:
                    routes[f"default/{version}"] = gateways.pop()
                else:
                    routes.update((str(s), gw) for s, gw in found.items())
            wanted[h] = routes
        return wanted

    def route(self) -> None:
        """Brings every host's routes up to date with the links (done after each ``link``
        once the topology has a router; call it after changing links by hand).

        Raises:
            OSError: the kernel refused a route.
        """
        self._check_open()
        for h, routes in self._wanted_routes().items():
            have = self._routes.setdefault(h, {})
            for dst, gw in list(have.items()):
                if routes.get(dst) != gw:
                    net.del_route(dst.split("/")[0] if dst.startswith("default") else dst,
                                  via=gw, netns=h.netns)  # fmt: skip
                    del have[dst]
            for dst, gw in routes.items():
                if dst not in have:
                    net.add_route(dst.split("/")[0] if dst.startswith("default") else dst,
                                  via=gw, netns=h.netns)  # fmt: skip
                    have[dst] = gw

    # ------------------------------------------------------------------ faults and shaping

    def _between(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node]) -> list[Veth]:
        if isinstance(a, Veth):
            if b is not None:
                raise TypeError("give two nodes, or one Veth")
            if a not in self._links:
                raise ValueError(f"{a!r} belongs to another topology")
            return [a]
        if b is None:
            raise TypeError("give two nodes, or one Veth")
        na, nb = self._node(a, "a"), self._node(b, "b")
        found = [v for v in na.links if v.other(na) is nb]
        if not found:
            raise ValueError(
                f"{na.name!r} and {nb.name!r} are not linked directly: partition or shape a "
                "link on the path between them (t.links lists them)"
            )
        return found

    def partition(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node] = None) -> None:
        """Cuts the links between `a` and `b`: both ends drop everything, silently.

        Programs see no error, only silence (a TCP connect times out); ``heal`` ends it.

        Args:
            a, b: two linked nodes (or names), or a single ``Veth``.

        Raises:
            ValueError: the nodes are not linked directly.
            LookupError: no node of that name.
        """
        self._check_open()
        for v in self._between(a, b):
            for node, name in v.ends():
                net.blackhole(name, netns=node.netns)
            v.partitioned = True

    def heal(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node] = None) -> None:
        """Ends a partition between `a` and `b` (their shape, if any, is back).

        Args:
            a, b: two linked nodes (or names), or a single ``Veth``.

        Raises:
            ValueError: the nodes are not linked directly.
        """
        self._check_open()
        for v in self._between(a, b):
            self._apply(v, v._shape)
            v.partitioned = False

    def shape(
        self,
        a: Union[str, _Node, Veth],
        b: Union[None, str, _Node] = None,
        *,
        delay_ms: Optional[float] = None,
        jitter_ms: Optional[float] = None,
        loss_pct: Optional[float] = None,
        rate_mbit: Optional[float] = None,
    ) -> None:
        """Shapes the links between `a` and `b`, in both directions (each end's egress).

        netem adds `delay_ms` (± `jitter_ms`) one way, so a round trip grows by twice the delay,
        and drops `loss_pct` percent of the packets sent each way; tbf limits each direction to
        `rate_mbit`. Configured by netlink; a new shape replaces the old.

        Args:
            a, b: two linked nodes (or names), or a single ``Veth``.
            delay_ms, jitter_ms, loss_pct, rate_mbit: see :func:`pyns.net.shape`.

        Raises:
            ValueError: bad numbers, or nodes not linked directly.
            pyns.UnsupportedError: delay, jitter or loss on a kernel without netem.
        """
        self._check_open()
        spec = dict(delay_ms=delay_ms, jitter_ms=jitter_ms, loss_pct=loss_pct, rate_mbit=rate_mbit)
        for v in self._between(a, b):
            if not v.partitioned:
                self._apply(v, spec)
            v._shape = spec

    def unshape(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node] = None) -> None:
        """Removes the shape of the links between `a` and `b`.

        Args:
            a, b: two linked nodes (or names), or a single ``Veth``.

        Raises:
            ValueError: the nodes are not linked directly.
        """
        self._check_open()
        for v in self._between(a, b):
            if not v.partitioned:
                self._apply(v, None)
            v._shape = None

    @staticmethod
    def _apply(v: Veth, spec: Optional[dict[str, Optional[float]]]) -> None:
        for node, name in v.ends():
            if spec is None:
                net.unshape(name, netns=node.netns)
            else:
                net.shape(name, netns=node.netns, **spec)

    # ------------------------------------------------------------------ teardown

    @property
    def closed(self) -> bool:
        """Whether the topology has been torn down."""
        return self._closed

    def close(self) -> None:
        """Tears the topology down: kills and reaps what its hosts spawned, closes every
        namespace handle (the kernel then removes the namespaces and their links). Names
        persisted with ``persist=True`` stay. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            for p in self._processes:
                if p.poll() is None:
                    p.kill()
            for p in self._processes:
                p.wait()
        finally:
            self._processes.clear()
            for node in self._nodes.values():
                node._close()
