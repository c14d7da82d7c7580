"""A network partition: the client's connection attempt times out, then heal restores it.

Run as root: python3 examples/partition_heal.py
"""

from __future__ import annotations

import socket
import time

from pyns.testing import Topology


def connect(host: str, port: int, timeout: float) -> str:
    """Tries one TCP connection; says how it went."""
    t0 = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return "connected"
    except socket.timeout:
        return f"timed out after {time.monotonic() - t0:.1f} s"


def main() -> None:
    with Topology() as t:
        client, server = t.host("client"), t.host("server")
        t.link(client, server)
        with server.enter():
            listener = socket.create_server((server.ip(), 7000))
        with listener:
            t.partition(client, server)  # both ends drop everything, silently
            print("partitioned:", client.run(connect, server.ip(), 7000, 0.5))
            print("ping while partitioned:", t.ping(client, server, timeout=0.5))
            t.heal(client, server)
            print("healed:", client.run(connect, server.ip(), 7000, 5.0))
            print("ping after heal:", t.ping(client, server, timeout=5))


if __name__ == "__main__":
    main()
