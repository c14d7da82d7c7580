"""Three hosts in a chain through a router: a -- r -- b, on two subnets.

The topology adds the routes (a and b get a default route via r), so a reaches b.
Run as root: python3 examples/router_chain.py
"""

from __future__ import annotations

import socket

from pyns.testing import Topology


def main() -> None:
    with Topology() as t:
        a, r, b = t.host("a"), t.router("r"), t.host("b")
        t.link(a, r)  # 10.0.0.0/24: a .1, r .2
        t.link(r, b)  # 10.0.1.0/24: r .1, b .2
        with b.enter():  # a socket made inside b stays in b's network namespace
            server = socket.create_server((b.ip(), 7000))
        with server, a.enter():
            with socket.create_connection((b.ip(), 7000), timeout=5) as c:
                peer, _ = server.accept()
                with peer:
                    c.sendall(b"hello through r")
                    print(f"b ({b.ip()}) got {peer.recv(100)!r} from {peer.getpeername()[0]}")


if __name__ == "__main__":
    main()
