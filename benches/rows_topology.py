"""Rows of pyns.testing.Topology: a linked pair of hosts set up and torn down (against
pyroute2's create + move + configure + delete and raw C), and a 1,000-host chain (linear
scaling, memory per host).

Everything happens in namespaces made here; nothing is configured in the root namespace.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
import tracemalloc

from harness import Ctx, Impl, Row, cprog, timed
from rows_net import IPRoute, _pair_pyroute2

import pyns
from pyns import _native, net
from pyns.testing import Host, Topology

CHAIN = 1000


def _pair() -> None:
    with Topology() as t:
        t.link(t.host("a"), t.host("b"))


def _close_and_wait(t: Topology, ends: list[Host], limit: float = 120.0) -> tuple[float, float]:
    """Closes `t` and waits until the kernel has torn its namespaces down (it does so
    asynchronously, in a kernel worker), so that one measurement does not pay for another's
    clean-up. The sign: veths from the `ends` to a probe namespace vanish with their hosts.

    Returns:
        The time of ``close()`` and the time the kernel took after it.
    """
    probe = _native.net_node(None, False, False)[0]
    with probe:
        for i, h in enumerate(ends):
            net.veth(f"probe{i}", f"p{i}", netns=h.netns, peer_netns=probe)
        t0 = time.perf_counter()
        t.close()
        closing = time.perf_counter() - t0
        deadline = time.monotonic() + limit
        while len(net.links(netns=probe)) > 1 and time.monotonic() < deadline:
            time.sleep(0.002)
        return closing, time.perf_counter() - t0 - closing


def _chain(n: int) -> tuple[list[float], float, float]:
    """Builds a chain of n hosts (each linked to the previous one) and tears it down; returns
    the time each host took (host + link), the time of ``close()``, and how long the kernel
    then took to tear the namespaces down."""
    times = []
    t = Topology()
    hosts: list[Host] = []
    for i in range(n):
        t0 = time.perf_counter()
        h = t.host(f"h{i}")
        if hosts:
            t.link(hosts[-1], h)
        times.append(time.perf_counter() - t0)
        hosts.append(h)
    closing, kernel = _close_and_wait(t, [hosts[0], hosts[-1]])
    return times, closing, kernel


class _Segments:
    """The first and the last `k` hosts of one n-host chain: the two impls of a row are called
    in pairs, so each chain serves one call of each."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.spare: dict[bool, float] = {}

    def impl(self, last: bool) -> Impl:
        def run(k: int) -> float:
            if last in self.spare:
                return self.spare.pop(last)
            times, _, _ = _chain(self.n)
            self.spare = {not last: sum(times[:k] if last else times[-k:])}
            return sum(times[-k:] if last else times[:k])

        return run


def _whole(size: int) -> Impl:
    """k hosts as chains of `size` hosts, each set up and closed (the kernel's clean-up is
    waited for, not counted)."""

    def run(k: int) -> float:
        total = 0.0
        chains = max(1, k // size)
        for _ in range(chains):
            times, closing, _ = _chain(size)
            total += sum(times) + closing
        return total / (chains * size) * k

    return run


def _memory_per_host(n: int) -> tuple[str, str]:
    """What one host of an n-host chain costs pyns (Python heap by tracemalloc, fds), and how
    long the kernel took to tear the chain down after ``close()``."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t = Topology()
    hosts: list[Host] = []
    for i in range(n):
        h = t.host(f"h{i}")
        if hosts:
            t.link(hosts[-1], h)
        hosts.append(h)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    fds = len(os.listdir("/proc/self/fd"))
    closing, kernel = _close_and_wait(t, [hosts[0], hosts[-1]])
    fds -= len(os.listdir("/proc/self/fd"))
    return (
        f"{used / n / 1024:.2f} kB of Python objects and {fds / n:.1f} fds per host",
        f"{kernel / n * 1e3:.2f} ms per host (close() itself: {closing / n * 1e6:.0f} µs)",
    )


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


def _round_trips(ctx: Ctx, delay_ms: float) -> Impl | None:
    """UDP round trips a -> b -> a through shape(a, b, delay_ms=...) (both directions delayed),
    in a Topology that lives as long as the bench run; None without netem."""
    t = ctx.stack.enter_context(Topology(prefix="rtt"))
    a, b = t.host("a"), t.host("b")
    t.link(a, b)
    try:
        t.shape(a, b, delay_ms=delay_ms)
    except pyns.UnsupportedError:
        return None
    with b.enter():
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with a.enter():
        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctx.stack.callback(cli.close)
    ctx.stack.callback(srv.close)
    srv.bind((b.ip(), 0))
    srv.settimeout(0.1)
    cli.settimeout(5)
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            try:
                data, addr = srv.recvfrom(16)
                srv.sendto(data, addr)
            except socket.timeout:
                pass

    th = threading.Thread(target=echo)
    th.start()

    def halt() -> None:
        stop.set()
        th.join()

    ctx.stack.callback(halt)

    def round_trip() -> None:
        cli.sendto(b"x", srv.getsockname())
        cli.recvfrom(16)

    return timed(round_trip)


def _shaping_rows(ctx: Ctx) -> list[Row]:
    """What tests/test_topology.py checks without timing it: a netem delay's round trip."""
    delayed = _round_trips(ctx, 20)
    if delayed is None:
        return []
    return [
        Row(
            "UDP round trip through shape(delay_ms=20), vs a 40 ms sleep",
            {"pyns": delayed, "time.sleep(0.040)": timed(lambda: time.sleep(0.040))},
            base="time.sleep(0.040)",
            target=1.25,
            batch=10,
            note="both directions are delayed: a round trip is 2 x 20 ms (ratio ~1.0)",
        )
    ]


def _hosts(mnt: bool) -> Impl:
    """k hosts (host + link to the previous one) in chains of 50, with or without their own
    mount namespace and files; each chain closed after (its teardown not counted)."""

    def run(k: int) -> float:
        total = 0.0
        for start in range(0, k, 50):
            with Topology() as t:
                prev = None
                t0 = time.perf_counter()
                for i in range(min(50, k - start)):
                    h = t.host(f"h{i}", mnt=mnt)
                    if prev is not None:
                        t.link(prev, h)
                    prev = h
                total += time.perf_counter() - t0
        return total

    return run


def _names_rows() -> list[Row]:
    """What a host's own mount namespace, /etc/hosts, hostname and resolv.conf cost."""
    return [
        Row(
            "Topology host + link with its own mount namespace and /etc files (default), "
            "vs mnt=False",
            {"pyns": _hosts(True), "mnt=False": _hosts(False)},
            base="mnt=False",
            target=2.0,
            batch=50,
            note="mnt=True: the helper thread that makes the host's namespaces also copies "
            "the caller's mount namespace, mounts a tmpfs for the host's files, binds a "
            "symlink over /etc/hosts and two files over /etc/hostname and /etc/resolv.conf; "
            "/etc/hosts is one file per topology, written before the first program starts: "
            "O(1) per host",
        )
    ]


def rows(ctx: Ctx) -> list[Row]:
    n = 50 if ctx.quick else CHAIN
    _raise_fd_limit(4 * n + 1024)
    memory, cleanup = _memory_per_host(n)
    pair: dict[str, Impl] = {"pyns": timed(_pair), "C": cprog("net", "pair")}
    if IPRoute is not None:
        pair["pyroute2"] = timed(_pair_pyroute2)
    seg = n // 10
    segments = _Segments(n)
    return _shaping_rows(ctx) + _names_rows() + [
        Row(
            "Topology: 2 hosts + 1 link, set up and torn down",
            pair,
            base="pyroute2" if IPRoute is not None else "C",
            target=0.05 if IPRoute is not None else None,
            batch=10,
            note="pyns: with Topology() as t: t.link(t.host('a'), t.host('b')) (net+uts "
            "namespaces per host, veth born inside both, addresses, up; closing drops them); "
            "pyroute2: named netns, veth moved, addresses, up, veth deleted, netns removed",
        ),
        Row(
            f"{n:,}-host chain: the last {seg} hosts (host + link) vs the first {seg}",
            {"pyns": segments.impl(last=True), f"first {seg}": segments.impl(last=False)},
            base=f"first {seg}",
            target=1.5,
            batch=seg,
            rounds=5,
            note=f"the linear-scaling check, each chain built after the last one was torn down; {memory}",
        ),
        Row(
            f"{n:,}-host chain set up and torn down, per host, vs 10-host chains",
            {"pyns": _whole(n), "10-host chains": _whole(10)},
            base="10-host chains",
            target=1.5,
            batch=n,
            rounds=5,
            note="host + link to the previous one, then Topology.close(); after it the kernel "
            f"frees the namespaces asynchronously: {cleanup}; waited for between chains",
        ),
    ]
