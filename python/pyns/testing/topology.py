"""``Topology``: hosts, routers and switches in their own namespaces, joined by veth links.

Every node is a set of namespaces set up from inside by the calling thread, which comes back
(or by a short-lived helper thread where it could not), and held by file descriptors (no
process runs in it). A link is a veth pair created with both ends born inside
the two nodes' network namespaces, so nothing ever passes through, or is configured in, the
caller's network namespace. Closing the topology kills what its hosts spawned and closes the
descriptors; the kernel then removes the namespaces and their links.
"""

from __future__ import annotations

import itertools
import os
from typing import Optional, Union

from .. import _native, net
from .._native import Namespace
from ..process import Process
from . import clocks, registry, routing, workdir
from .capture import Captures
from .faults import Cuts
from .shaping import impairments
from .topology_faults import Faults
from .probe import Probes
from .etc import HostFiles, check_files
from .addressing import Interface as _Interface, Network as _Network, Subnets, interface, nth
from .addressing import mirror_address
from .descriptors import Descriptors
from .nodes import Host, Switch, Veth, _Node

__all__ = ["Host", "Switch", "Topology", "Veth", "impairments"]

#: Numbers the topologies of this process (their default prefix).
_numbers = itertools.count(1)

#: The bridge inside every switch's network namespace.
BRIDGE = "br0"


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a node name must be a str, not {type(name).__name__}")
    if not name or "/" in name or "\0" in name or len(name.encode()) > 64 or name in (".", ".."):
        raise ValueError(
            f"bad node name {name!r}: it becomes the hostname and a directory name, so 1 to 64 "
            "bytes, no '/' or NUL, not '.' or '..'"
        )
    return name


def _destination(dst: _Network) -> str:
    """A route's destination as ``pyns.net`` takes it (``"default"`` for /0)."""
    return "default" if dst.prefixlen == 0 else str(dst)


class Topology(Faults, Probes, HostFiles, Captures):
    """Hosts, routers and switches joined by links, torn down on exit.

    Use it as a context manager (or call ``close()``). On exit, also after an exception or
    Ctrl-C, programs spawned in hosts are killed and every namespace handle is closed; the
    kernel then removes the namespaces and their links. If the Python process dies, even by
    SIGKILL, the same happens by itself: the namespaces are held only by the process's file
    descriptors, and spawned programs get SIGKILL when their parent thread dies (pdeathsig).

    Addresses are deterministic: each link without ``subnet=`` gets the next free /24 of
    10.0.0.0/8 (10.0.0.0/24, 10.0.1.0/24, ...); ``a`` gets .1, ``b`` gets .2. Every link with
    an IPv4 subnet is dual stack: it also gets that subnet's IPv6 /64 (10.0.<n>.0/24 ->
    fd00:0:0:<n in hex>::/64, other subnets fd00:1:<network address>::/64; see
    ``pyns.testing.addressing.mirror``) with the same host numbers (fd00:0:0:1::2), usable at
    once (no duplicate address detection: IFA_F_NODAD); ``host.ip(family=6)``. Once a router
    (``t.router(name)`` or ``t.host(name, forwarding=True)``) is part of the topology, routes
    are kept up to date after every link: each host reaches every subnet (shortest path; a
    host with a single way out gets a default route).

    Args:
        prefix: the prefix of the names under /run/netns when ``persist=True``
            (``<prefix>-<node>``); default: ``pyns-<pid>-<n>``, the n-th topology of this
            process, so that concurrent topologies (threads, processes, pytest-xdist
            workers) never collide.
        persist: also bind-mount each node's network namespace at /run/netns/<prefix>-<node>,
            so that ``ip netns exec`` reaches it, and it outlives the topology (remove with
            ``pyns.netns.remove`` or ``ip netns del``). Needs root.
        log: the default of ``log=`` of ``host.spawn``: write each program's stdout and
            stderr to ``<directory>/<host>/<pid>-<program>.log`` (``host.logs()``).
    """

    def __init__(
        self, prefix: Optional[str] = None, *, persist: bool = False, log: bool = False
    ) -> None:
        if prefix is None:
            prefix = f"pyns-{os.getpid()}-{next(_numbers)}"
        if not isinstance(prefix, str) or not prefix or "/" in prefix:
            raise ValueError(f"prefix must be a non-empty str without '/', not {prefix!r}")
        self.prefix = prefix
        self.persist = bool(persist)
        self.log = bool(log)
        self._nodes: dict[str, _Node] = {}
        self._links: list[Veth] = []
        self._processes: list[Process] = []
        self._subnets = Subnets()
        self._routes: dict[Host, dict[_Network, str]] = {}
        self._routers = 0
        self._cuts = Cuts()
        self._directory: Optional[str] = None
        self._descriptors = Descriptors()
        self._closed = False
        self._registry = registry.Registry()
        # Keeps the procfs instance nodes' sysctls are written through (given back by close()
        # or, if a Ctrl-C cut that short, when the topology goes).
        self._procfs = _native.ProcfsLease()
        registry.track(self)

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
        if isinstance(exc[1], BaseException):
            registry.failing(self, exc[1])
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
        self._descriptors.reserve(len(self._nodes))
        return name

    def _persist(self, name: str, ns: Namespace) -> None:
        if self.persist:
            _native.netns_persist(ns, f"{self.prefix}-{name}")

    def host(
        self,
        name: str,
        *,
        mnt: bool = True,
        forwarding: bool = False,
        private: Optional[list[str]] = None,
        files: Optional[dict[str, Union[str, bytes]]] = None,
        monotonic: Optional[float] = None,
        boottime: Optional[float] = None,
    ) -> Host:
        """Adds a host: new network, UTS (hostname = `name`) and mount namespaces, ``lo`` up.

        In its mount namespace (``/`` recursively private: mounts made by its programs stay
        inside), ``/etc/hosts`` lists every node of the topology by name with all its
        addresses (kept up to date as nodes and links come and go), and ``/etc/hostname``
        and ``/etc/resolv.conf`` are its own (see ``pyns.testing.etc``).

        The UTS namespace is made when the host first runs something (``spawn``, ``run``,
        ``enter``, ``namespaces``): until then an idle host holds two file descriptors, its
        network and mount namespaces' (one with ``mnt=False``; one more for the first few
        hundred nodes, which keep a netlink socket).

        Args:
            name: a name unique in the topology; also the hostname.
            mnt: give it a mount namespace and its own files (default); False: it sees the
                machine's mounts and files.
            forwarding: let it route between its links (IPv4 and IPv6), like ``router()``.
            private: directories that are a fresh tmpfs in the host (``["/run"]``): what its
                programs write there stays in it and is gone after.
            files: files placed in the host, ``{"/etc/app.conf": "text"}`` (str or bytes),
                also where the file or its directory does not exist on the machine (nothing
                is created there: an overlay of the nearest existing directory, in the host).
            monotonic, boottime: seconds added to CLOCK_MONOTONIC / CLOCK_BOOTTIME for the
                programs the host spawns (each starts in a time namespace with these offsets;
                ``pyns.testing.clocks``). CLOCK_REALTIME cannot be namespaced by the kernel:
                the wall clock stays the same for every host.

        Returns:
            The ``Host``.

        Raises:
            TypeError, ValueError: a bad or duplicate name, bad `private`/`files` (or either
                with ``mnt=False``), an offset that is not a number or out of range, or the
                topology is closed.
            PermissionError: without CAP_SYS_ADMIN (root, or inside a user namespace).
            OSError: ``EMFILE``: not enough file descriptors for it even at the hard
                ``RLIMIT_NOFILE`` (the soft one is raised to it when short; see
                ``pyns.testing.descriptors``).
        """
        name = self._new_name(name)
        offsets = clocks.offsets(monotonic, boottime)
        dirs, placed = check_files(private, files)
        if (dirs or placed) and not mnt:
            raise ValueError("private= and files= need the host's own mount namespace (mnt=True)")
        mounts = self._host_mounts(name, dirs, placed) if mnt else None
        net_ns, _, mntns = _native.net_node(None, bool(mnt), bool(forwarding), mounts)  # uts: Host
        handles = {"net": net_ns}
        if mntns is not None:
            handles["mnt"] = mntns
        host = Host(self, name, handles, bool(forwarding))
        host.clocks = offsets
        self._nodes[name] = host
        self._routers += host.forwarding
        self._persist(name, net_ns)
        self._registry.add(host)
        return host

    def router(self, name: str, *, mnt: bool = True) -> Host:
        """Adds a router: a host with forwarding on.

        Args:
            name: a name unique in the topology; also the hostname.
            mnt: give it a mount namespace and its own files, as ``host()`` (default).

        Returns:
            The ``Host``.

        Raises:
            ValueError: a bad or duplicate name.
            PermissionError: without CAP_SYS_ADMIN.
        """
        return self.host(name, mnt=mnt, forwarding=True)

    def switch(self, name: str, *, subnet: Union[None, str, _Network] = None) -> Switch:
        """Adds a switch: a bridge ``br0`` in a network namespace of its own.

        The bridge floods multicast to every port (it has no querier); MLD reports, which
        would only cost each host the others' reports, are dropped at its prerouting hook by
        an nf_tables table ``bridge pyns`` (where the kernel has nf_tables for bridges).

        Args:
            name: a name unique in the topology.
            subnet: the subnet of the hosts linked to it; default: the next free /24.

        Returns:
            The ``Switch``.

        Raises:
            ValueError: a bad or duplicate name, or a bad or overlapping subnet.
            PermissionError: without CAP_SYS_ADMIN.
            OSError: ``EMFILE``: not enough file descriptors, as for ``host()``.
        """
        name = self._new_name(name)
        network = self._subnets.claim(subnet)
        try:
            # switch: MLD reports dropped, else each host's are flooded to all: O(n²) for n.
            net_ns, _, _ = _native.net_node(None, False, False, switch=True)
        except BaseException:
            self._subnets.release(network)
            raise
        try:
            net.bridge(BRIDGE, netns=net_ns)
            net.set_link(BRIDGE, up=True, netns=net_ns)
        except BaseException:
            net_ns.close()
            self._subnets.release(network)
            raise
        sw = Switch(self, name, {"net": net_ns}, network)
        sw._segment.subnet6 = self._subnets.twin(network)
        self._nodes[name] = sw
        self._persist(name, net_ns)
        self._registry.add(sw)
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
            a, b: the nodes (``Host``, ``Switch`` or name); two switches become one L2
                segment with `a`'s subnet (link them before linking hosts to `b`).
            subnet: the link's subnet (host to host); default: the next free /24.
            addresses: explicit ``(a's, b's)`` addresses in CIDR form, instead of `subnet`.
            mtu: the MTU of both ends, 68 to 65535.

        Returns:
            The ``Veth``.

        Raises:
            TypeError: an MTU that is not an int.
            ValueError: the same node twice, switches joined already (a loop), a second
                switch with hosts of its own, a bad or overlapping subnet, a full switch
                subnet, addresses with a switch, an MTU out of range, or a closed topology. Nothing is reserved or counted for a link that was not made.
            LookupError: no node of that name.
            OSError: the kernel refused (PermissionError without CAP_NET_ADMIN).
        """
        self._check_open()
        na, nb = self._node(a, "a"), self._node(b, "b")
        if na is nb:
            raise ValueError(f"cannot link {na.name!r} to itself")
        if mtu is not None:
            if isinstance(mtu, bool) or not isinstance(mtu, int):
                raise TypeError(f"mtu must be an int, not {type(mtu).__name__}")
            if not 68 <= mtu <= 65535:
                raise ValueError(f"mtu must be between 68 and 65535 (a veth's), not {mtu}")
        if isinstance(na, Switch) and isinstance(nb, Switch):
            if subnet is not None or addresses is not None:
                raise ValueError("a link between switches takes no subnet/addresses")
            return self._join(na, nb, mtu)
        sw = na if isinstance(na, Switch) else nb if isinstance(nb, Switch) else None
        if sw is not None and (subnet is not None or addresses is not None):
            raise ValueError("a link to a switch takes the switch's subnet: no subnet/addresses")
        if subnet is not None and addresses is not None:
            raise ValueError("give subnet= or addresses=, not both")
        names = (na._next_ifname(), nb._next_ifname())
        ifaces: tuple[Optional[_Interface], Optional[_Interface]]
        claimed: Optional[_Network] = None
        if sw is not None:
            assert isinstance(sw, Switch)
            network, net6 = sw.subnet, sw._segment.subnet6
            mine = nth(network, sw._hosts + 1)
            ifaces = (None, mine) if sw is na else (mine, None)
        elif addresses is not None:
            ia, ib = (interface(x) for x in addresses)
            network = ia.network
            if ib.network.version != network.version:
                raise ValueError(f"addresses {addresses} mix IPv4 and IPv6")
            self._subnets.reserve(network)
            claimed, ifaces = network, (ia, ib)
            net6 = self._subnets.twin(network)
        else:
            network = claimed = self._subnets.claim(subnet)
            ifaces = (nth(network, 1), nth(network, 2))
            net6 = self._subnets.twin(network)
        ifaces6 = tuple(
            None if x is None or net6 is None else mirror_address(x, net6) for x in ifaces  # type: ignore[arg-type]
        )
        try:
            if sw is nb:  # made from the switch's side, where the bridge is
                self._wire(nb, na, (names[1], names[0]), (ifaces[1], ifaces[0]), mtu,
                           (ifaces6[1], ifaces6[0]))
            else:
                self._wire(na, nb, names, ifaces, mtu, ifaces6)  # type: ignore[arg-type]
        except BaseException:
            if claimed is not None:
                self._subnets.release(claimed)
            raise
        if isinstance(sw, Switch):
            sw._hosts += 1
        veth = Veth(na, nb, names, network, ifaces)
        veth._ifaces6 = ifaces6
        for node, iface, iface6 in zip((na, nb), ifaces, ifaces6):
            node.links.append(veth)
            for x in (iface, iface6):
                if x is not None:
                    assert isinstance(node, Host)
                    node._addresses.append((veth.ifname(node), x))
        self._links.append(veth)
        self._names_changed()
        if self._routers:
            self.route()
        if self._cuts.senders:  # the new addresses are cut too
            self._cuts.readdressed()
        return veth

    @staticmethod
    def _joined(sw: Switch) -> list[Switch]:
        """`sw` and the switches it reaches through links between switches."""
        seen = [sw]
        for s in seen:
            for v in s.links:
                o = v.other(s)
                if isinstance(o, Switch) and o not in seen:
                    seen.append(o)
        return seen

    def _join(self, sa: Switch, sb: Switch, mtu: Optional[int]) -> Veth:
        """Links two switches' bridges: one L2 segment with `sa`'s subnet."""
        group = self._joined(sb)
        if sa in group:
            raise ValueError(
                f"switches {sa.name!r} and {sb.name!r} are joined already: another link would "
                "make a loop (the bridges run no spanning tree)"
            )
        merge = sb._segment is not sa._segment
        if merge and any(s.hosts for s in group):
            raise ValueError(
                f"switch {sb.name!r} has hosts in its own subnet {sb.subnet}: link switches "
                "before linking hosts to the second one"
            )
        names = (sa._next_ifname(), sb._next_ifname())
        self._wire(sa, sb, names, (None, None), mtu)
        try:
            net.set_link(names[1], master=BRIDGE, netns=sb.netns)
        except BaseException:
            net.delete_link(names[0], netns=sa.netns)
            raise
        if merge:
            old = sb._segment
            for s in group:
                s._segment = sa._segment
            self._subnets.release(old.subnet)
        veth = Veth(sa, sb, names, sa.subnet, (None, None))
        sa.links.append(veth)
        sb.links.append(veth)
        self._links.append(veth)
        return veth

    @staticmethod
    def _wire(
        a: _Node,
        b: _Node,
        names: tuple[str, str],
        ifaces: tuple[Optional[_Interface], Optional[_Interface]],
        mtu: Optional[int],
        ifaces6: tuple[Optional[_Interface], Optional[_Interface]] = (None, None),
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
            None if ifaces6[0] is None else str(ifaces6[0]),
            None if ifaces6[1] is None else str(ifaces6[1]),
        )

    # ------------------------------------------------------------------ routing

    def route(self) -> None:
        """Brings every host's routes up to date with the links (done after each ``link``
        once the topology has a router; call it after changing links by hand).

        Raises:
            OSError: the kernel refused a route.
        """
        self._check_open()
        hosts = self.hosts
        wanted = routing.compute(
            {h: [iface for name, iface in h._addresses if name not in h._down()] for h in hosts},
            [h for h in hosts if h.forwarding],
        )
        for h, found in wanted.items():
            routes = {r.dst: r.via for r in found}
            have = self._routes.setdefault(h, {})
            for dst, gw in list(have.items()):
                if routes.get(dst) != gw:
                    net.del_route(_destination(dst), via=gw, netns=h.netns)
                    del have[dst]
            for dst, gw in routes.items():
                if dst not in have:
                    net.add_route(_destination(dst), via=gw, netns=h.netns)
                    have[dst] = gw

    # ------------------------------------------------------------------ live changes

    def link_down(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node] = None) -> None:
        """Takes the links between `a` and `b` down at both ends (no carrier), while programs
        run; routes are recomputed around them (if another path exists).

        Args:
            a, b: two linked nodes (or names), or a single ``Veth``.

        Raises:
            ValueError: the nodes are not linked directly.
            LookupError: no node of that name.
            OSError: the kernel refused.
        """
        self._carrier(a, b, False)

    def link_up(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node] = None) -> None:
        """Brings the links between `a` and `b` back up at both ends; routes are recomputed.

        Args:
            a, b: two linked nodes (or names), or a single ``Veth``.

        Raises:
            ValueError: the nodes are not linked directly.
            LookupError: no node of that name.
            OSError: the kernel refused.
        """
        self._carrier(a, b, True)

    def _carrier(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node], up: bool) -> None:
        self._check_open()
        links = self._between(a, b)
        for v in links:
            for node, name in v.ends():
                net.set_link(name, up=up, netns=node.netns)
            v.up = up
        self._rerouted(links)

    def _rerouted(self, links: list[Veth]) -> None:
        """Routes after `links` went down or away: forget those the kernel dropped with
        them, then recompute."""
        for h in {n for v in links for n in (v.a, v.b) if isinstance(n, Host)}:
            have = self._routes.get(h)
            if have and h.name in self._nodes:
                kept = {(r.dst, r.via) for r in net.routes(netns=h.netns)}
                for dst, gw in list(have.items()):
                    if (_destination(dst), gw) not in kept:
                        del have[dst]
        if self._routers:
            self.route()

    def unlink(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node] = None) -> None:
        """Deletes the links between `a` and `b` while programs run: their addresses go, a
        host-to-host link's subnet is free again, routes are recomputed, cuts follow.

        Args:
            a, b: two linked nodes (or names), or a single ``Veth``.

        Raises:
            ValueError: the nodes are not linked directly.
            LookupError: no node of that name.
            OSError: the kernel refused.
        """
        self._check_open()
        links = self._between(a, b)
        for v in links:
            self._drop(v)
        self._names_changed()
        self._rerouted(links)
        self._cuts.readdressed()

    def _drop(self, v: Veth) -> None:
        node, name = next(v.ends())
        net.delete_link(name, netns=node.netns)  # the peer goes with it
        for n in (v.a, v.b):
            n.links.remove(v)
            n._dropped_links = True
            if isinstance(n, Host):
                n._addresses = [(i, x) for i, x in n._addresses if i != v.ifname(n)]
        self._links.remove(v)
        if not isinstance(v.a, Switch) and not isinstance(v.b, Switch):
            self._subnets.release(v.subnet)

    def remove(self, node: Union[str, _Node]) -> None:
        """Removes a node while the others run: kills its programs (SIGKILL), deletes its
        links (routes are recomputed) and its cuts, and closes its namespaces.

        Args:
            node: a host, router or switch (or its name).

        Raises:
            LookupError: no node of that name.
            OSError: the kernel refused.
        """
        self._check_open()
        n = self._node(node, "node")
        if isinstance(n, Host):
            n.kill()
            self._processes[:] = [p for p in self._processes if p.returncode is None]
            self._cuts.forget(n)
            self._routes.pop(n, None)
            self._routers -= n.forwarding
        links = list(n.links)
        for v in links:
            self._drop(v)
        del self._nodes[n.name]
        self._registry.remove(n.name)
        if isinstance(n, Switch) and not any(s._segment is n._segment for s in self.switches):
            self._subnets.release(n.subnet)
        n._close()
        self._names_changed()
        self._rerouted(links)
        self._cuts.readdressed()

    # ------------------------------------------------------------------ teardown

    @property
    def directory(self) -> str:
        """This topology's own directory (its hosts' files, logs, captures): a fresh private
        directory under ``$TMPDIR``, made on first use and removed by ``close()``."""
        self._check_open()
        if self._directory is None:
            self._workdir = workdir.make()  # removed when the topology goes, at the latest
            self._directory = self._workdir.path
        return self._directory

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
            self._registry.close()
            self._stop_captures()
            self._processes.clear()
            for node in self._nodes.values():
                node._close()
            self._procfs.release()
            if self._directory is not None:
                self._workdir.remove()
