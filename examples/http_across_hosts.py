"""An HTTP server on one host and a client on another, joined by a veth link.

Run as root: python3 examples/http_across_hosts.py
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

from pyns.testing import Topology


def fetch(url: str, timeout: float = 5.0) -> str:
    """GET `url`, retrying until the server listens; runs inside the client host."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return f"{r.status} {len(r.read())} bytes"
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


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
        print("client got:", client.run(fetch, f"http://{server.ip()}:8000/"))
    # Here the server is killed, the namespaces and the link are gone.


if __name__ == "__main__":
    main()
