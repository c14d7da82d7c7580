"""Rows of pyns.testing.Topology: a linked pair of hosts set up and torn down (against
pyroute2's create + move + configure + delete and raw C), and a netem delay's round trip.
Big topologies (a 10,000-host chain, a star, long series) are in rows_scale.py.

Everything happens in namespaces made here; nothing is configured in the root namespace.
"""

from __future__ import annotations

import socket
import threading
import time

from harness import Ctx, Impl, Row, cprog, timed
from rows_net import IPRoute, _pair_pyroute2

import pyns
from pyns.testing import Topology


def _pair() -> None:
    with Topology() as t:
        t.link(t.host("a"), t.host("b"))


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
    pair: dict[str, Impl] = {"pyns": timed(_pair), "C": cprog("net", "pair")}
    if IPRoute is not None:
        pair["pyroute2"] = timed(_pair_pyroute2)
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
    ]
