"""Rows of pyns.testing faults: a partition + heal between hosts 3 hops apart (against the same
FIB rules made by `ip rule` processes), and cuts in a 100-host topology vs a 10-host one
(linear cost).

Everything happens in namespaces made here; nothing is configured in the root namespace.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import time

from harness import Ctx, Impl, Row, timed

from pyns import netns
from pyns.testing import Host, Topology


def _three_hops(ctx: Ctx) -> tuple[Topology, Host, Host]:
    """a - r1 - r2 - b, persisted as /run/netns/<prefix>-<node> for `ip -n` (the bench runs
    in a private mount namespace)."""
    t = ctx.stack.enter_context(Topology(prefix=f"pyns-faults-{os.getpid()}", persist=True))
    names = ("a", "r1", "r2", "b")
    for name in names:  # the names' files in /run/netns outlive the private mounts: remove
        ctx.stack.callback(_remove, f"{t.prefix}-{name}")
    a, r1, r2, b = t.host("a"), t.router("r1"), t.router("r2"), t.host("b")
    t.link(a, r1)
    t.link(r1, r2)
    t.link(r2, b)
    t.partition(a, b)  # the local table moves once, in both; not part of the rows
    t.heal()
    return t, a, b


def _remove(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        netns.remove(name)


def _ip_rule(t: Topology, a: Host, b: Host) -> Impl:
    cmds = []
    for verb in ("add", "del"):
        for src, dst in ((a, b), (b, a)):
            for family in (4, 6):  # the links are dual stack: pyns cuts both
                cmds.append(
                    ["ip", f"-{family}", "-n", f"{t.prefix}-{dst.name}", "rule", verb, "pref",
                     "500", "from", src.ip(family=family), "to", dst.ip(family=family),
                     "blackhole"]  # fmt: skip
                )

    def op() -> None:
        for c in cmds:
            subprocess.run(c, check=True)

    return timed(op)


def _cuts(n: int) -> Impl:
    """Cuts between distinct pairs of hosts on one switch of `n` hosts (one cut per call),
    healed between batches (not counted)."""
    t = Topology()
    sw = t.switch("sw", subnet="10.200.0.0/16" if n > 200 else None)
    hosts = [t.host(f"h{i}") for i in range(n)]
    for h in hosts:
        t.link(h, sw)
    pairs = list(itertools.combinations(hosts, 2))

    def run(k: int) -> float:
        t0 = time.perf_counter()
        for a, b in itertools.islice(itertools.cycle(pairs), k):
            t.partition(a, b)
        elapsed = time.perf_counter() - t0
        t.heal()
        return elapsed

    run.topology = t  # type: ignore[attr-defined]
    return run


def rows(ctx: Ctx) -> list[Row]:
    t, a, b = _three_hops(ctx)
    big, small = _cuts(20 if ctx.quick else 100), _cuts(10)
    for impl in (big, small):
        ctx.stack.callback(impl.topology.close)  # type: ignore[attr-defined]
    n = len(big.topology.hosts)  # type: ignore[attr-defined]
    return [
        Row(
            "partition + heal of 2 hosts 3 hops apart (a - r1 - r2 - b)",
            {
                "pyns": timed(lambda: (t.partition(a, b), t.heal(a, b))),
                "ip rule": _ip_rule(t, a, b),
            },
            base="ip rule",
            target=0.1,
            batch=20,
            note="pyns: 4 FIB rules added (RTM_NEWRULE, IPv4 and IPv6 in each receiver) and "
            "deleted; ip rule: the same 8 changes by `ip -n NS rule add/del ... blackhole` "
            "processes",
        ),
        Row(
            f"one cut among {n} hosts on a switch vs among 10",
            {"pyns": big, "10 hosts": small},
            base="10 hosts",
            target=1.5,
            batch=40,
            note="t.partition(a, b) of distinct pairs, healed between batches: the cost of a "
            "cut does not grow with the topology nor with the cuts already made",
        ),
    ]
