"""Jepsen-style faults on five hosts behind two routers: a majorities ring (every node hears
a majority, no two the same one), then a seeded nemesis while a workload runs; everything heals.

Run as root: python3 examples/jepsen_faults.py
"""

from __future__ import annotations

import socket
import sys

from pyns.testing import Topology
from pyns.testing.faults import majorities_ring

ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 7000))
while True:
    data, addr = s.recvfrom(64)
    try:
        s.sendto(data, addr)
    except OSError:  # no route back while the nemesis has a link down: the reply is lost
        pass
"""


def hears(t: Topology, src: str, dst: str, timeout: float = 0.2) -> bool:
    """Whether a datagram from `src` reaches `dst`'s echo server and comes back in time."""
    with t[src].enter():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        s.settimeout(timeout)
        s.sendto(b"?", (t[dst].ip(), 7000))
        try:
            return s.recv(8) == b"?"
        except socket.timeout:
            return False


def main() -> None:
    with Topology() as t:
        r1, r2 = t.router("r1"), t.router("r2")
        t.link(r1, r2)
        names = ["n1", "n2", "n3", "n4", "n5"]
        for i, name in enumerate(names):
            h = t.host(name)
            t.link(h, r1 if i < 3 else r2)
            h.spawn([sys.executable, "-c", ECHO, h.ip()])
        for name in names:
            t[name].wait_port(7000, proto="udp", timeout=10)  # each echo server is bound
        everyone = {(a, b): True for a in names for b in names if a != b}
        t.assert_reachable(everyone, timeout=5)  # ICMP from raw sockets, all pairs at once
        assert all(hears(t, a, b, timeout=2) for a, b in everyone)

        grudges = majorities_ring(names, seed=1)
        for sender, receiver in grudges:
            t.partition(sender, receiver, oneway=True)
        for me in names:
            heard = [o for o in names if o != me and (o, me) not in grudges]
            print(f"{me} hears from {' '.join(heard)} (its grudges cut the others)")
        t.heal()

        ok = failed = 0
        with t.nemesis(seed=7, interval_s=0.2) as n:
            while len(n.timeline) < 10:
                for a, b in (("n1", "n4"), ("n2", "n5"), ("n3", "n1")):
                    if hears(t, a, b, timeout=0.05):
                        ok += 1
                    else:
                        failed += 1
        print(f"nemesis: {len(n.timeline)} events, {ok} round trips ok, {failed} lost")
        for time_s, fault, nodes in n.timeline[:6]:
            print(f"  {time_s:6.3f} s  {fault:9} {' '.join(nodes)}")
        healed = all(t.reachability(timeout=5).values())
        print("healed: every node hears every node" if healed else "NOT healed")


if __name__ == "__main__":
    main()
