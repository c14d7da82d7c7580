"""Rows of in-process packet capture (``Topology.capture``) against tcpdump: host a sends UDP
datagrams paced at 10,000 packets/s to host b for a few seconds while b's interfaces are
captured; the row's time is one whole capture (start, traffic, stop), and its note says how
many packets were sent, captured and dropped (the number that matters: none may be lost).

tcpdump is the peer: ``tcpdump -w`` started in b's network namespace (``b.spawn``), waited
for until it says it listens, stopped with SIGINT (it then writes its drop count); by default
(libpcap's 1 s buffer timeout) and with ``--immediate-mode``. tcpdump loses what its ring
holds when stopped; pyns waits for the block being filled (at most 50 ms old).
Everything happens in namespaces made here; nothing is configured in the root namespace.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

from harness import Ctx, Impl, Row

from pyns.testing import Host, Topology
from pyns.testing.packets import read

RATE = 10_000
PORT = 9999


def _send(a: Host, b: Host, seconds: float) -> int:
    """Sends RATE datagrams a second from a to b for `seconds`; returns how many were sent."""
    with b.enter():
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with a.enter():
        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sink, cli:
        sink.bind((b.ip(), PORT))  # no port unreachable replies; nobody reads it
        total = int(RATE * seconds)
        dst, payload = (b.ip(), PORT), b"x" * 64
        sent, t0 = 0, time.perf_counter()
        while sent < total:
            due = min(total, int((time.perf_counter() - t0) * RATE) + 1)
            while sent < due:
                cli.sendto(payload, dst)
                sent += 1
            time.sleep(0.0005)
        return sent


def _udp(packets: list) -> int:  # type: ignore[type-arg]
    return sum(1 for p in packets if p.proto == "UDP" and p.info.endswith(f"> {PORT} len 64"))


def rows(ctx: Ctx) -> list[Row]:
    t = ctx.stack.enter_context(Topology())
    a, b = t.host("a"), t.host("b")
    t.link(a, b)
    seconds = 1.0 if ctx.quick else 3.0
    counts: dict[str, str] = {}

    def note() -> str:
        return (f"{RATE:,} UDP packets/s for {seconds:g} s; sent/captured/dropped: "
                + "; ".join(f"{k} {v}" for k, v in counts.items()))

    def pyns_capture(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            with t.capture(b) as cap:
                sent = _send(a, b, seconds)
            elapsed = time.perf_counter() - t0
            got = _udp(cap.packets)
            os.unlink(cap.path)
            counts["pyns"] = f"{sent}/{got}/{cap.dropped}"
            t0 = time.perf_counter() - elapsed
        row.note = note()
        return time.perf_counter() - t0

    def tcpdump(name: str, *flags: str) -> Impl:
        return lambda k: run_tcpdump(k, name, flags)

    def run_tcpdump(k: int, name: str, flags: tuple[str, ...]) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            path = os.path.join(t.directory, "tcpdump.pcap")
            p = b.spawn(["tcpdump", "-i", "eth0", "-n", *flags, "-w", path],
                        stderr=subprocess.PIPE)
            assert p.stderr is not None
            p.stderr.readline()  # "listening on eth0, ...": capturing from here on
            sent = _send(a, b, seconds)
            p.send_signal(signal.SIGINT)
            err = p.stderr.read().decode()
            p.wait()
            elapsed = time.perf_counter() - t0
            dropped = [line.split()[0] for line in err.splitlines() if "dropped by kernel" in line]
            got = _udp(read(path))
            os.unlink(path)
            counts[name] = f"{sent}/{got}/{dropped[0] if dropped else '?'}"
            t0 = time.perf_counter() - elapsed
        row.note = note()
        return time.perf_counter() - t0

    impls: dict[str, Impl] = {"pyns": pyns_capture}
    if shutil.which("tcpdump"):
        impls["tcpdump"] = tcpdump("tcpdump")
        impls["tcpdump --immediate-mode"] = tcpdump("tcpdump --immediate-mode",
                                                    "--immediate-mode")
    row = Row(
        f"capture of {RATE:,} packets/s for {seconds:g} s (start, traffic, stop)",
        impls,
        base="tcpdump" if "tcpdump" in impls else "pyns",
        batch=2,
        rounds=3,
    )
    return [row]
