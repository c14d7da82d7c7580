"""Rows of big topologies (issue 14, Scale): a 10,000-host chain against C doing the same in
the same run (per host, the last hosts against the first, close()), a 1,000-host star on one
switch, and 1,000 small topologies built and dropped in a row (the kernel's asynchronous
clean-up of network namespaces must not slow a long session down).

The kernel frees the namespaces of a closed topology (or of an exited C program) in a worker,
after the caller went on. Except in the row about exactly that, every build first waits until
the kernel has cleaned up the namespaces of the one before (``_Quiet``), so that no
measurement pays for another's clean-up.
"""

from __future__ import annotations

import os
import resource
import time
import tracemalloc

from harness import Ctx, Impl, Row, cprog

import pyns
from pyns import net
from pyns.testing import Host, Topology

#: Hosts of the big chain.
CHAIN = 10_000
#: Hosts on the star's switch.
STAR = 1_000
#: Small topologies built and dropped in a row.
SMALL = 1_000
#: The hosts compared at each end of the chain, and topologies at each end of the series.
ENDS = 100


class _Quiet:
    """Waits until the kernel has cleaned up the network namespaces dropped so far: call it
    before each build, so that no build competes with the clean-up of the one before.

    The kernel cleans up dead namespaces in passes (`cleanup_net`), one at a time, each taking
    all that were queued. The wait drops a namespace of its own holding one end of a veth
    whose peer lives in a namespace kept here, and waits until the peer is gone: the pass that
    took the probe has unregistered its devices, and every pass before it is done. (Counting
    the `net_namespace` slab does not tell: the kernel frees a namespace's memory only in the
    pass after the one that cleaned it up.)"""

    def __init__(self, ctx: Ctx) -> None:
        with pyns.isolate(net=True, loopback=False) as iso:
            self.home = iso.namespaces["net"]
        ctx.stack.callback(self.home.close)

    def wait(self, limit: float = 300.0) -> None:
        with pyns.isolate(net=True, loopback=False):
            net.veth("quiet0", "quiet1", peer_netns=self.home)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                net.link("quiet1", netns=self.home)
            except LookupError:
                return
            time.sleep(0.02)
        raise TimeoutError(f"the kernel did not clean up a network namespace in {limit} s")


def _rss() -> int:
    """The process's resident memory, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _room(fds: int) -> None:
    """Lets this process (and the C peer it starts) hold up to `fds` descriptors, as far as the
    hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < fds:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(fds, hard), hard))


def _chain(t: Topology, n: int) -> list[float]:
    """Adds an n-host chain (each host linked to the previous one); the time of each host."""
    times = []
    prev: Host | None = None
    for i in range(n):
        t0 = time.perf_counter()
        h = t.host(f"h{i}", mnt=False)
        if prev is not None:
            t.link(prev, h)
        times.append(time.perf_counter() - t0)
        prev = h
    return times


class _Chains:
    """Full-size chains built by pyns; each one serves several rows: its per-host times, its
    close() time and its memory."""

    def __init__(self, n: int, quiet: _Quiet) -> None:
        self.n = n
        self.quiet = quiet
        self.times: list[list[float]] = []  # per-host times of chains not yet used by _Ends
        self.closing: list[float] = []  # close() times not yet used by the close row
        self.rss: list[float] = []  # resident bytes per host
        self.heap: float | None = None  # Python heap bytes per host (tracemalloc)
        self.served: set[tuple[bool, int]] = set()  # the ends of times[-1] measured already

    def build(self, k: int) -> float:
        """Builds a k-host chain, closes it; returns the time of the building."""
        self.quiet.wait()
        rss = _rss()
        t = Topology()
        times = _chain(t, k)
        grown = _rss() - rss
        t0 = time.perf_counter()
        t.close()
        closing = time.perf_counter() - t0
        if k == self.n:
            self.times.append(times)
            self.closing.append(closing)
            self.rss.append(grown / k)
        return sum(times)

    def heap_per_host(self) -> float:
        """Python heap per host (tracemalloc) of a chain of up to 1,000 hosts."""
        if self.heap is None:
            k = min(self.n, 1000)
            self.quiet.wait()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            t = Topology()
            _chain(t, k)
            self.heap = (tracemalloc.get_traced_memory()[0] - base) / k
            tracemalloc.stop()
            t.close()
        return self.heap

    def impl(self, row: Row) -> Impl:
        """pyns for the row against C: builds chains, notes memory and close() in the row."""

        def run(k: int) -> float:
            elapsed = self.build(k)
            heap = self.heap_per_host()
            if self.rss:
                row.note = (
                    f"{row.note.split(' | ')[0]} | pyns' memory per host: {heap:,.0f} B of "
                    f"Python heap (tracemalloc, {min(self.n, 1000):,}-host chain), "
                    f"{max(self.rss):,.0f} B resident (VmRSS growth over the chain, worst "
                    f"chain); close() of the chain: up to {max(self.closing) * 1e3:,.0f} ms"
                )
            return elapsed

        return run

    def ends(self, last: bool, k: int) -> float:
        """The time of k hosts at one end of a chain (skipping its first 10 at the start):
        each chain serves one call per end."""
        if not self.times or (last, k) in self.served:
            self.build(self.n)
            self.served = set()
        times = self.times[-1]
        self.served.add((last, k))
        if len(self.served) == 2:
            self.times.pop()
        return sum(times[-k:]) if last else sum(times[10 : 10 + k])

    def close_time(self, k: int) -> float:
        """k close() times of full-size chains (building more if need be)."""
        while len(self.closing) < k:
            self.build(self.n)
        taken, self.closing = self.closing[:k], self.closing[k:]
        return sum(taken)


def _c_chain(quiet: _Quiet) -> Impl:
    prog = cprog("net", "chain")

    def run(k: int) -> float:
        quiet.wait()
        return prog(k)

    return run


def _star(quiet: _Quiet) -> Impl:
    """k hosts linked to one switch (its subnet a /16, room for all), set up and closed."""

    def run(k: int) -> float:
        quiet.wait()
        t = Topology()
        t0 = time.perf_counter()
        sw = t.switch("sw", subnet="10.128.0.0/16")
        for i in range(k):
            t.link(t.host(f"h{i}", mnt=False), sw)
        elapsed = time.perf_counter() - t0
        t.close()
        return elapsed

    return run


def _chains_of(quiet: _Quiet) -> Impl:
    """k hosts as one k-host chain, set up and closed."""

    def run(k: int) -> float:
        quiet.wait()
        t = Topology()
        elapsed = sum(_chain(t, k))
        t.close()
        return elapsed

    return run


class _Series:
    """`count` small topologies (4 hosts on a switch) built and dropped in a row, waiting for
    nothing; each series serves one call per end."""

    def __init__(self, count: int, quiet: _Quiet) -> None:
        self.count = count
        self.quiet = quiet
        self.times: list[float] = []
        self.served: set[bool] = set()

    def run_series(self) -> None:
        self.quiet.wait()
        self.times = []
        for _ in range(self.count):
            t0 = time.perf_counter()
            with Topology() as t:
                sw = t.switch("sw")
                for i in range(4):
                    t.link(t.host(f"h{i}", mnt=False), sw)
            self.times.append(time.perf_counter() - t0)
        self.served = set()

    def impl(self, last: bool) -> Impl:
        def run(k: int) -> float:
            if not self.times or last in self.served:
                self.run_series()
            self.served.add(last)
            return sum(self.times[-k:] if last else self.times[:k])

        return run


def rows(ctx: Ctx) -> list[Row]:
    n = 1_000 if ctx.quick else CHAIN  # a quick run builds chains of n // 20 hosts
    star = 400 if ctx.quick else STAR
    _room(n + 1024)
    quiet = _Quiet(ctx)
    chains = _Chains(n if not ctx.quick else n // 20, quiet)
    per_host = Row(
        f"{n:,}-host chain (host + link to the previous), per host, vs C doing the same",
        {},
        base="C",
        target=2.0,
        batch=n,
        rounds=3,
        note="pyns: t.host(mnt=False), t.link(prev, h) (no mount namespace and /etc per "
        "host, as the C peer: the default adds one descriptor and ~0.2 ms per host, so a "
        "10,000-host chain with it needs ~20,300 descriptors); C (benches/c/net.c chain): "
        "a netns, lo up, "
        "held by an fd, a socket inside, a veth with its peer born in the new one, a /24 "
        "address and up at each end; each build waits for the kernel to free the namespaces "
        "of the one before",
    )
    per_host.impls = {"pyns": chains.impl(per_host), "C": _c_chain(quiet)}
    series = _Series(SMALL // 50 if ctx.quick else SMALL, quiet)
    return [
        per_host,
        Row(
            f"{n:,}-host chain: its last {ENDS} hosts vs hosts 11-{10 + ENDS}",
            {
                "pyns": lambda k: chains.ends(True, k),
                f"hosts 11-{10 + ENDS}": lambda k: chains.ends(False, k),
            },
            base=f"hosts 11-{10 + ENDS}",
            target=1.5,
            batch=ENDS,
            rounds=3,
            note="host + link each; the same chains as the row above (linear scaling)",
        ),
        Row(
            f"{n:,}-host chain: Topology.close(), vs 1 s",
            {"pyns": chains.close_time, "1 s": lambda k: float(k)},
            base="1 s",
            target=1.0,
            batch=1,
            rounds=3,
            note="closing kills nothing here and closes every handle; the kernel frees the "
            "namespaces afterwards, asynchronously (not waited for)",
        ),
        Row(
            f"{star:,}-host star on one switch (a bridge with {star:,} ports), per host, "
            f"vs a {star:,}-host chain",
            {"pyns": _star(quiet), f"{star:,}-host chain": _chains_of(quiet)},
            base=f"{star:,}-host chain",
            target=2.0,
            batch=star,
            rounds=3,
            note="t.link(t.host(name, mnt=False), sw) per host, the switch's subnet a /16",
        ),
        Row(
            f"{SMALL:,} small topologies (4 hosts on a switch) built and closed in a row: "
            f"the last {ENDS} vs the first {ENDS}",
            {"pyns": series.impl(last=True), f"first {ENDS}": series.impl(last=False)},
            base=f"first {ENDS}",
            target=1.5,
            batch=ENDS,
            rounds=3,
            note="no waiting between topologies: the kernel frees the namespaces of the "
            "closed ones (cleanup_net) while the next ones are built",
        ),
    ]
