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


def _live_netns() -> int | None:
    """How many network namespaces the kernel still has (net_namespace objects in
    /proc/slabinfo), or None where that cannot be read."""
    try:
        with open("/proc/slabinfo") as f:
            for line in f:
                if line.startswith("net_namespace "):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


#: How many network namespaces the machine had before the rows ran.
_BASE: list[int] = []


def _settle(target: int | None, limit: float = 60.0) -> float:
    """Waits until the kernel has freed the namespaces of a torn-down topology (it does so
    asynchronously, in a kernel worker) -- until no more than `target` (+16 for other users of
    the machine) are left -- so that one measurement does not pay for another's clean-up.

    Returns:
        The seconds waited.
    """
    t0 = time.perf_counter()
    deadline = time.monotonic() + limit
    while target is not None:
        live = _live_netns()
        if live is None or live <= target + 16 or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    return time.perf_counter() - t0


def _chain(n: int) -> tuple[list[float], float, float]:
    """Builds a chain of n hosts (each linked to the previous one) and tears it down; returns
    the time each host took (host + link), the time of ``close()``, and how long the kernel
    then took to free the namespaces."""
    before = _BASE[0] if _BASE else _live_netns()
    _settle(before)
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
    closing = time.perf_counter() - t0
    return times, closing, _settle(before)


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
        for _ in range(max(1, k // size)):
            times, closing, _ = _chain(size)
            total += sum(times) + closing
        return total

    return run


def _memory_per_host(n: int) -> tuple[str, str]:
    """What one host of an n-host chain costs pyns (Python heap by tracemalloc, fds), and how
    long the kernel took to free the chain's namespaces after ``close()``."""
    before = _live_netns()
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
    waited = _settle(before, limit=120)
    return (
        f"{used / n / 1024:.2f} kB of Python objects and {fds / n:.1f} fds per host",
        f"{waited / n * 1e3:.1f} ms per host" if before is not None else "not measured",
    )


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


def rows(ctx: Ctx) -> list[Row]:
    n = 200 if ctx.quick else CHAIN
    _raise_fd_limit(4 * n + 1024)
    live = _live_netns()
    _BASE[:] = [] if live is None else [live]
    memory, cleanup = _memory_per_host(n)
    pair: dict[str, Impl] = {"pyns": timed(_pair), "C": cprog("net", "pair")}
    if IPRoute is not None:
        pair["pyroute2"] = timed(_pair_pyroute2)
    seg = n // 10
    segments = _Segments(n)
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
            {"pyns": segments.impl(last=True), f"first {seg}": segments.impl(last=False)},
            base=f"first {seg}",
            target=1.5,
            batch=seg,
            rounds=5,
            note=f"the linear-scaling check, each chain built on a settled kernel; {memory}",
        ),
        Row(
            f"{n:,}-host chain set up and torn down, per host, vs 10-host chains",
            {"pyns": _whole(n), "10-host chains": _whole(10)},
            base="10-host chains",
            target=1.5,
            batch=n,
            rounds=5,
            note="host + link to the previous one, then Topology.close(); after it the kernel "
            f"frees the namespaces asynchronously: {cleanup} (waited for between runs)",
        ),
    ]
