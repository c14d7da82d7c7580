"""Dual stack in a Topology: every link with an IPv4 subnet also gets its IPv6 /64
(``pyns.testing.addressing.mirror``), addresses usable at once (no DAD), IPv6 routes through
routers, and partitions that cut IPv6 as well (FIB rules per family). Checked with ping -6,
TCP over IPv6 and `ip -6` inside the nodes.
"""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from pyns.testing import Host, Topology

pytestmark = pytest.mark.requires_root


def ping6(src: Host, dst: Host, wait_s: int = 2) -> bool:
    """One `ping -6` from `src` to `dst`'s IPv6 address."""
    p = src.spawn(["ping", "-6", "-n", "-c1", f"-W{wait_s}", dst.ip(family=6)],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return p.wait() == 0


def udp6_arrives(src: Host, dst: Host, timeout: float = 2.0) -> bool:
    """Whether one UDP datagram over IPv6 from `src` reaches `dst` within `timeout` (a
    datagram that arrives needs no wait beyond its trip; a cut one waits it out)."""
    with dst.enter():
        srv = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    with src.enter():
        cli = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    with srv, cli:
        srv.bind((dst.ip(family=6), 0))
        srv.settimeout(timeout)
        cli.sendto(b"x", srv.getsockname())
        try:
            return srv.recv(4) == b"x"
        except socket.timeout:
            return False


def ip6(host: Host, *args: str) -> list[dict]:
    with host.enter():
        out = subprocess.run(["ip", "-6", "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture
def behind_routers(topology: Topology) -> tuple[Host, ...]:
    """a - r1 - r2 - b, and c on a switch behind r2."""
    a, b, c = topology.host("a"), topology.host("b"), topology.host("c")
    r1, r2 = topology.router("r1"), topology.router("r2")
    topology.link(a, r1)
    topology.link(r1, r2)
    topology.link(r2, b)
    sw = topology.switch("sw")  # the fourth subnet: 10.0.3.0/24, fd00:0:0:3::/64
    topology.link(sw, r2)
    topology.link(sw, c)
    return a, r1, r2, b, c


def test_every_link_gets_its_ipv6_twin(topology: Topology, behind_routers) -> None:
    a, r1, r2, b, c = behind_routers
    assert a.addresses == ["10.0.0.1/24", "fd00::1/64"]
    assert r1.addresses == ["10.0.0.2/24", "fd00::2/64", "10.0.1.1/24", "fd00:0:0:1::1/64"]
    assert b.ip(family=6) == "fd00:0:0:2::2" and b.ip() == b.ip(family=4) == "10.0.2.2"
    assert c.ip(family=6) == "fd00:0:0:3::2" and r2.ip("eth2", family=6) == "fd00:0:0:3::1"
    assert topology.links[0].addresses6 == ("fd00::1/64", "fd00::2/64")
    # In the kernel: global, no "tentative" flag (no DAD), with its /64.
    addrs = {(x["local"], x["prefixlen"], tuple(sorted(k for k in x if k in ("tentative", "dadfailed"))))
             for i in ip6(b, "addr", "show", "dev", "eth0") for x in i["addr_info"]
             if x["scope"] == "global"}  # fmt: skip
    assert addrs == {("fd00:0:0:2::2", 64, ())}
    # A routed IPv6 default route, next to the IPv4 one.
    assert [(r["dst"], r["gateway"]) for r in ip6(a, "route") if "gateway" in r] == [
        ("default", "fd00::2")]  # fmt: skip
    with pytest.raises(ValueError, match="family"):
        a.ip(family=5)
    with pytest.raises(LookupError, match="IPv6"):
        topology.host("lonely").ip(family=6)


def test_ping6_and_tcp_over_ipv6_through_two_routers(topology: Topology, behind_routers) -> None:
    a, r1, r2, b, c = behind_routers
    assert ping6(a, b) and ping6(c, a) and ping6(b, c)
    with b.enter():
        server = socket.create_server((b.ip(family=6), 0), family=socket.AF_INET6)
    with a.enter():
        client = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with server, client:
        client.settimeout(5)
        client.connect(server.getsockname()[:2])
        peer, addr = server.accept()
        with peer:
            client.sendall(b"over v6")
            assert peer.recv(16) == b"over v6" and addr[0] == a.ip(family=6)


def test_partition_cuts_ipv6_too_and_heal_restores(topology: Topology, behind_routers) -> None:
    a, r1, r2, b, c = behind_routers
    assert udp6_arrives(a, b) and udp6_arrives(b, a)
    topology.partition(a, b)
    assert not udp6_arrives(a, b, 0.3) and not udp6_arrives(b, a, 0.3)
    assert not ping6(a, b, wait_s=1)
    assert udp6_arrives(a, c) and udp6_arrives(a, r2)  # only a <-> b is cut
    cut = {(r["src"], r["dst"]) for r in ip6(b, "rule") if r.get("action") == "blackhole"}
    assert cut == {("fd00::1", "fd00:0:0:2::2")}
    topology.heal()
    assert ip6(b, "rule") and not any(r.get("action") == "blackhole" for r in ip6(b, "rule"))
    assert udp6_arrives(a, b) and ping6(a, b)


def test_ipv6_survives_link_down_and_up(topology: Topology, behind_routers) -> None:
    a, r1, r2, b, c = behind_routers
    topology.link_down(r1, r2)
    assert not ping6(a, b, wait_s=1)
    topology.link_up(r1, r2)
    # The addresses stayed (keep_addr_on_down) and the routes came back.
    assert "fd00:0:0:1::1" in {x["local"] for i in ip6(r1, "addr") for x in i["addr_info"]}
    assert ping6(a, b)


def test_twins_of_explicit_subnets_and_overlaps(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    v = topology.link(a, b, addresses=("192.168.7.10/24", "192.168.7.20/24"))
    assert v.addresses6 == ("fd00:1:c0a8:700::a/64", "fd00:1:c0a8:700::14/64")
    with pytest.raises(ValueError, match="overlaps fd00:1:c0a8:700::/64"):
        topology.link(a, b, subnet="fd00:1:c0a8::/48")
    w = topology.link(a, b, subnet="fd00:5::/64")  # an explicit IPv6 link has no twin
    assert w.addresses == ("fd00:5::1/64", "fd00:5::2/64") and w.addresses6 == (None, None)
    topology.unlink(v)  # its twin is free again
    topology.link(a, b, subnet="fd00:1:c0a8::/48")
    assert ping6(a, b)


@pytest.mark.requires_userns
def test_rootless_dual_stack_and_ipv6_cut_inside_a_user_namespace(nobody) -> None:
    out = nobody(
        """
        import socket, pyns
        from pyns.testing import Topology

        def arrives(src, dst, timeout):
            with dst.enter():
                srv = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            with src.enter():
                cli = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            with srv, cli:
                srv.bind((dst.ip(family=6), 0)); srv.settimeout(timeout)
                cli.sendto(b"x", srv.getsockname())
                try:
                    return srv.recv(4) == b"x"
                except socket.timeout:
                    return False

        def build():
            with Topology() as t:
                a, r, b = t.host("a"), t.router("r"), t.host("b")
                t.link(a, r); t.link(r, b)
                before = arrives(a, b, 2.0)
                t.partition(a, b)
                cut = (arrives(a, b, 0.3), arrives(b, a, 0.3), arrives(a, r, 2.0))
                t.heal()
                return b.ip(family=6), before, cut, arrives(a, b, 2.0)

        print(pyns.run(build, user=True, map_root=True, net=True, uts=True))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('fd00:0:0:1::2', True, (False, False, True), True)"
