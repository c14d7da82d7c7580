"""Rows of pyns.net / pyns.netns: addresses, lookups, dumps, netns handles, named netns, and a
linked pair of hosts, against raw C (benches/c/net.c), pyroute2 and iproute2.

Everything happens in network namespaces made here (the host's root namespace only sees the
named ones come and go); subprocess peers are started from a thread inside the namespace they
work in, so they inherit it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Callable

from harness import Ctx, Impl, Row, cprog, subprocess_runs, timed

import pyns
from pyns import net

try:
    from pyroute2 import IPRoute
    from pyroute2 import netns as p2netns
except ImportError:  # the peer is left out
    IPRoute = None  # type: ignore[assignment,misc]

PREFIX = f"pyns-bench-net-{os.getpid()}"
_counter = itertools.count()


def _new_netns() -> pyns.Namespace:
    with pyns.isolate(net=True, loopback=False) as iso:
        return iso.namespaces["net"]


@contextlib.contextmanager
def _fresh() -> Iterator[pyns.Namespace]:
    """A throwaway netns, entered by this thread (so subprocesses started here run in it)."""
    with _new_netns() as ns, ns.enter():
        yield ns


def _in(ns: pyns.Namespace, impl: Impl) -> Impl:
    """`impl` run with this thread inside `ns`."""

    def run(k: int) -> float:
        with ns.enter():
            return impl(k)

    return run


def _addresses(k: int) -> list[str]:
    return [f"{ipaddress.IPv4Address(0x0A000001 + i)}/32" for i in range(k)]


# ---------------------------------------------------------------- add an IPv4 address


def _addaddr_pyns(k: int) -> float:
    todo = _addresses(k)
    with _new_netns() as ns:
        net.link("lo", netns=ns)  # the handle's socket is open from here on
        t0 = time.perf_counter()
        for a in todo:
            net.add_addr("lo", a, netns=ns)
        return time.perf_counter() - t0


def _addaddr_c(k: int) -> float:
    with _fresh():
        return cprog("net", "addaddr")(k)


def _addaddr_pyroute2(k: int) -> float:
    todo = [a[:-3] for a in _addresses(k)]
    with _fresh(), IPRoute() as ipr:
        t0 = time.perf_counter()
        for a in todo:
            ipr.addr("add", index=1, address=a, prefixlen=32)
        return time.perf_counter() - t0


def _addaddr_ip(k: int) -> float:
    todo = _addresses(k)
    with _fresh():
        t0 = time.perf_counter()
        for a in todo:
            subprocess.run(["ip", "addr", "add", a, "dev", "lo"], check=True)
        return time.perf_counter() - t0


# ---------------------------------------------------------------- named netns


def _names(k: int) -> list[str]:
    return [f"{PREFIX}-{next(_counter)}" for _ in range(k)]


def _named_pyns(k: int) -> float:
    todo = _names(k)
    t0 = time.perf_counter()
    for n in todo:
        pyns.netns.add(n).close()
        pyns.netns.remove(n)
    return time.perf_counter() - t0


def _named_c(k: int) -> float:
    return cprog("net", "netns", f"{PREFIX}-c{next(_counter)}")(k)


def _named_pyroute2(k: int) -> float:
    todo = _names(k)
    t0 = time.perf_counter()
    for n in todo:
        p2netns.create(n)
        p2netns.remove(n)
    return time.perf_counter() - t0


def _named_ip(k: int) -> float:
    todo = _names(k)
    t0 = time.perf_counter()
    for n in todo:
        subprocess.run(["ip", "netns", "add", n], check=True)
        subprocess.run(["ip", "netns", "del", n], check=True)
    return time.perf_counter() - t0


def _remove_leftovers() -> None:
    for n in pyns.netns.names():
        if n.startswith(PREFIX):
            pyns.netns.remove(n)


# ---------------------------------------------------------------- a linked pair of hosts


def _pair_pyns() -> None:
    with _new_netns() as a, _new_netns() as b:
        net.veth("eth0", "eth0", netns=a, peer_netns=b)
        net.add_addr("eth0", "10.0.0.1/24", netns=a)
        net.set_link("eth0", up=True, netns=a)
        net.add_addr("eth0", "10.0.0.2/24", netns=b)
        net.set_link("eth0", up=True, netns=b)


def _pair_pyroute2() -> None:
    """The usual pyroute2 way: named netns, veth made in one and its peer moved to the other,
    addresses, up, then the veth deleted and the namespaces removed."""
    na, nb = _names(2)
    p2netns.create(na)
    p2netns.create(nb)
    try:
        with IPRoute(netns=na) as a:
            a.link("add", ifname="eth0", kind="veth", peer="eth1")
            peer = a.link_lookup(ifname="eth1")[0]
            a.link("set", index=peer, net_ns_fd=nb)
            ia = a.link_lookup(ifname="eth0")[0]
            a.addr("add", index=ia, address="10.0.0.1", prefixlen=24)
            a.link("set", index=ia, state="up")
            with IPRoute(netns=nb) as b:
                ib = b.link_lookup(ifname="eth1")[0]
                b.addr("add", index=ib, address="10.0.0.2", prefixlen=24)
                b.link("set", index=ib, state="up")
            a.link("del", index=ia)
    finally:
        p2netns.remove(na)
        p2netns.remove(nb)


def rows(ctx: Ctx) -> list[Row]:
    ctx.stack.callback(_remove_leftovers)
    have_pyroute2 = IPRoute is not None

    # A netns with a veth to look up, and one with 2,000 links to dump.
    look = ctx.stack.enter_context(_new_netns())
    net.veth("veth0", "veth1", netns=look)
    big = ctx.stack.enter_context(_new_netns())
    pairs = 100 if ctx.quick else 1000
    for i in range(pairs):
        net.veth(f"a{i}", f"b{i}", netns=big)
    named = f"{PREFIX}-handle"
    pyns.netns.add(named).close()
    ctx.stack.callback(pyns.netns.remove, named)

    def peers(**impls: Impl | None) -> dict[str, Impl]:
        return {k.replace("_", " "): v for k, v in impls.items() if v is not None}

    def with_ipr(ns: pyns.Namespace, op: Callable[[IPRoute], object]) -> Impl:
        def run(k: int) -> float:
            with ns.enter():
                ipr = IPRoute()
            with ipr:
                t0 = time.perf_counter()
                for _ in range(k):
                    op(ipr)
                return time.perf_counter() - t0

        return run

    def handle_pyroute2() -> None:
        with IPRoute(netns=named) as ipr:
            ipr.link_lookup(ifname="lo")

    return [
        Row(
            "add an IPv4 address",
            peers(
                pyns=_addaddr_pyns,
                C=_addaddr_c,
                pyroute2=_addaddr_pyroute2 if have_pyroute2 else None,
                ip_addr_add=_addaddr_ip,
            ),
            base="C",
            target=1.6,
            batch=200,
            note="a /32 on lo of a fresh netns per batch; pyns: add_addr('lo', cidr, netns=ns) "
            "on an open Namespace (name lookup included); C: RTM_NEWADDR by index + ACK",
        ),
        Row(
            "look up a link by name",
            peers(
                pyns=timed(lambda: net.link("veth0", netns=look)),
                C=_in(look, cprog("net", "lookup", "veth0")),
                pyroute2=with_ipr(look, lambda r: r.link_lookup(ifname="veth0"))
                if have_pyroute2
                else None,
            ),
            base="C",
            target=2.0,
            batch=2000,
            note="pyns: link('veth0', netns=ns) -> Link (plus the master's name when enslaved); "
            "C: RTM_GETLINK with IFLA_IFNAME",
        ),
        Row(
            f"dump all links, {2 * pairs:,} links present",
            peers(
                pyns=timed(lambda: net.links(netns=big)),
                C=_in(big, cprog("net", "dump")),
                pyroute2=with_ipr(big, lambda r: r.get_links()) if have_pyroute2 else None,
                ip_j_link=_in(big, subprocess_runs(["ip", "-j", "link", "show"])),
            ),
            base="pyroute2" if have_pyroute2 else "C",
            target=0.02 if have_pyroute2 else None,
            batch=1,
            note="pyns: links(netns=ns) -> list[Link]; pyroute2: get_links()",
        ),
        Row(
            "netns handle inside an existing netns",
            peers(
                pyns=timed(lambda: net.link("lo", netns=named)),
                C=cprog("net", "handle", f"/run/netns/{named}"),
                pyroute2=timed(handle_pyroute2) if have_pyroute2 else None,
            ),
            base="C",
            target=5.0,
            batch=50,
            note="open /run/netns/<name>, a NETLINK_ROUTE socket inside it, one RTM_GETLINK, "
            "close; pyns: link('lo', netns='<name>'); pyroute2: IPRoute(netns=...)",
        ),
        Row(
            "named netns create + remove (/run/netns)",
            peers(
                pyns=_named_pyns,
                C=_named_c,
                pyroute2=_named_pyroute2 if have_pyroute2 else None,
                ip_netns_add_del=_named_ip,
            ),
            base="C",
            target=1.2,
            batch=20,
            note="pyns: netns.add(name).close(); netns.remove(name); C: as ip netns add/del",
        ),
        Row(
            "a linked pair of hosts: 2 netns, veth born inside both, addresses, up; dropped",
            peers(
                pyns=timed(_pair_pyns),
                C=cprog("net", "pair"),
                pyroute2=timed(_pair_pyroute2) if have_pyroute2 else None,
            ),
            base="pyroute2" if have_pyroute2 else "C",
            target=0.05 if have_pyroute2 else None,
            batch=10,
            note="pyns.net by hand (veth(..., peer_netns=), add_addr, set_link up, close the "
            "handles); pyroute2: create + move + addr + up + delete, as BENCHMARKS.md",
        ),
    ]
