"""Rows of pyns.testing.Topology: a linked pair of hosts set up and torn down (against
pyroute2's create + move + configure + delete and raw C), and a 1,000-host chain (linear
scaling, memory per host).

Everything happens in namespaces made here; nothing is configured in the root namespace.
"""

from __future__ import annotations

import os
import resource
import time
import tracemalloc

from harness import Ctx, Impl, Row, cprog, timed
from rows_net import IPRoute, _pair_pyroute2

from pyns.testing import Topology

CHAIN = 1000


def _pair() -> None:
    with Topology() as t:
        t.link(t.host("a"), t.host("b"))


def _chain(n: int) -> tuple[list[float], float]:
    """Builds a chain of n hosts (each linked to the previous one) and tears it down; returns
    the time each host took (host + link) and the teardown time."""
    times = []
    t = Topology()
    prev = None
    for i in range(n):
        t0 = time.perf_counter()
        h = t.host(f"h{i}")
        if prev is not None:
            t.link(prev, h)
        times.append(time.perf_counter() - t0)
        prev = h
    t0 = time.perf_counter()
    t.close()
    return times, time.perf_counter() - t0


def _segment(n: int, last: bool) -> Impl:
    """An Impl whose k operations are k hosts at the start (or end) of an n-host chain."""

    def run(k: int) -> float:
        times, _ = _chain(n)
        return sum(times[-k:] if last else times[:k])

    return run


def _whole(k: int) -> float:
    t0 = time.perf_counter()
    _chain(k)
    return time.perf_counter() - t0


def _memory_per_host(n: int) -> str:
    """Python heap (tracemalloc) and fds that one host of an n-host chain costs pyns."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t = Topology()
    prev = None
    for i in range(n):
        h = t.host(f"h{i}")
        if prev is not None:
            t.link(prev, h)
        prev = h
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    fds = len(os.listdir("/proc/self/fd"))
    t.close()
    fds -= len(os.listdir("/proc/self/fd"))
    return f"{used / n / 1024:.2f} kB of Python objects and {fds / n:.1f} fds per host"


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


def rows(ctx: Ctx) -> list[Row]:
    n = 200 if ctx.quick else CHAIN
    _raise_fd_limit(4 * n + 1024)
    memory = _memory_per_host(n)
    pair: dict[str, Impl] = {"pyns": timed(_pair), "C": cprog("net", "pair")}
    if IPRoute is not None:
        pair["pyroute2"] = timed(_pair_pyroute2)
    seg = n // 10
    return [
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
            {"pyns": _segment(n, last=True), f"first {seg}": _segment(n, last=False)},
            base=f"first {seg}",
            target=1.5,
            batch=seg,
            note=f"the linear-scaling check; {memory}",
        ),
        Row(
            f"{n:,}-host chain set up and torn down, per host",
            {"pyns": _whole},
            base="pyns",
            batch=n,
            note="host + link to the previous one, then Topology.close(); the kernel frees "
            "the namespaces asynchronously afterwards",
        ),
    ]
