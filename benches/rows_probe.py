"""Rows of the test kit's probes: who reaches whom among 20 hosts (380 ordered pairs), by
``t.reachability()`` (in-process ICMP from raw sockets born in each host, all pairs at once)
against one ``ping -c1`` process per pair, as a test would otherwise do it.

Everything happens in namespaces made here; nothing is configured in the root namespace.
"""

from __future__ import annotations

import time

from harness import Ctx, Impl, Row, timed

from pyns.testing import Host, Topology


def _hosts(ctx: Ctx, n: int) -> tuple[Topology, list[Host]]:
    """n hosts on 4 switches behind one router, every pair reachable."""
    t = Topology()
    ctx.stack.callback(t.close)
    r = t.router("r")
    switches = [t.switch(f"sw{i}") for i in range(4)]
    for sw in switches:
        t.link(r, sw)
    hosts = [t.host(f"h{i}") for i in range(n)]
    for i, h in enumerate(hosts):
        t.link(h, switches[i % 4])
    if not all(t.reachability(timeout=10).values()):
        raise RuntimeError("the bench topology is not fully connected")
    return t, hosts


def _ping_processes(hosts: list[Host]) -> Impl:
    def run(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            for a in hosts:
                for b in hosts:
                    if a is not b:
                        a.exec(["ping", "-n", "-q", "-c", "1", "-W", "5", b.ip()])
        return time.perf_counter() - t0

    return run


def rows(ctx: Ctx) -> list[Row]:
    n = 5 if ctx.quick else 20
    t, hosts = _hosts(ctx, n)
    return [
        Row(
            f"reachability of {n} hosts ({n * (n - 1)} pairs), all reachable",
            {
                "pyns": timed(lambda: t.reachability(timeout=10)),
                "ping processes": _ping_processes(hosts),
            },
            base="ping processes",
            target=0.05,
            batch=1,
            rounds=3,
            note="pyns: one raw ICMP socket per host, every echo request sent at once, replies "
            "collected by one select; ping processes: `ping -c1` per pair via host.exec",
        ),
    ]
