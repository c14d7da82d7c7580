"""A smoke test of an installed pyns wheel, run by .ci/run under the oldest and newest CPython.

Plain Python, no pytest: it checks that the abi3 wheel imports and works on an interpreter it
was not built with (import, isolate, spawn, run, pyns.aio, net, Topology, the CLI). Run as root:

    python tests/smoke_wheel.py
"""

from __future__ import annotations

import asyncio
import importlib
import os
import pkgutil
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET


def hostname_inside() -> str:
    return socket.gethostname()


def udp_round_trip(ip: str, port: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"ping", (ip, port))
        return s.recv(16)


def main() -> None:
    import pyns
    from pyns import net
    from pyns.testing import Topology

    for mod in pkgutil.walk_packages(pyns.__path__, "pyns."):  # every module imports here
        # __main__ runs the CLI (checked below); the pytest plugin needs pytest.
        if mod.name not in ("pyns.__main__", "pyns.testing.plugin"):
            importlib.import_module(mod.name)
    where = os.path.dirname(pyns.__file__)
    assert "site-packages" in where, f"pyns imported from the source tree: {where}"
    print(f"pyns from {where} on Python {sys.version.split()[0]}")

    outside = socket.gethostname()
    with pyns.isolate(uts=True, hostname="smoke"):
        assert socket.gethostname() == "smoke"
    assert socket.gethostname() == outside

    p = pyns.spawn(["hostname"], uts=True, hostname="spawned", stdout=subprocess.PIPE)
    out, _ = p.communicate()
    assert (p.returncode, out) == (0, b"spawned\n"), (p.returncode, out)

    assert pyns.run(hostname_inside, uts=True, hostname="ran") == "ran"

    async def aio() -> tuple[bytes, str]:
        p = await pyns.aio.spawn(["hostname"], uts=True, hostname="aio", stdout=subprocess.PIPE)
        out, _ = await p.communicate()
        return out, await pyns.aio.run(hostname_inside, uts=True, hostname="aio-run")

    assert asyncio.run(aio()) == (b"aio\n", "aio-run")

    with pyns.isolate(net=True):
        assert [link.name for link in net.links()] == ["lo"]
        net.veth("a0", "b0")
        net.add_addr("a0", "192.0.2.1/24")
        assert "192.0.2.1" in {a.address for a in net.addrs("a0")}

    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b)
        with b.enter():
            server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with server:
            server.bind((b.ip(), 0))
            port = server.getsockname()[1]

            def serve() -> None:
                data, addr = server.recvfrom(16)
                server.sendto(data, addr)

            th = threading.Thread(target=serve)
            th.start()
            assert a.run(udp_round_trip, b.ip(), port) == b"ping"
            th.join()
        ET.fromstring(t._repr_svg_())

    cli = subprocess.run(
        [sys.executable, "-m", "pyns", "run", "-u", "--hostname", "cli", "--", "hostname"],
        stdout=subprocess.PIPE,
        check=True,
    )
    assert cli.stdout == b"cli\n", cli.stdout
    print("smoke test passed")


if __name__ == "__main__":
    main()
