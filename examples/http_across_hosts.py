"""An HTTP server on one host and a client on another, joined by a veth link.

Run as root: python3 examples/http_across_hosts.py
"""

from __future__ import annotations

import subprocess
import sys

from pyns.testing import Topology

# The client: one GET, run as a program inside the client host by host.exec.
FETCH = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    print(r.status, len(r.read()), "bytes")
"""


def main() -> None:
    with Topology() as t:
        client, server = t.host("client"), t.host("server")
        t.link(client, server, subnet="10.0.0.0/24")  # client 10.0.0.1, server 10.0.0.2
        server.spawn(
            [sys.executable, "-m", "http.server", "8000", "--bind", server.ip()],
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server.wait_port(8000, timeout=10)  # returns once the server listens: no retry loop
        got = client.exec([sys.executable, "-c", FETCH, f"http://{server.ip()}:8000/"])
        print("client got:", got.stdout.strip())
    # Here the server is killed, the namespaces and the link are gone.


if __name__ == "__main__":
    main()
