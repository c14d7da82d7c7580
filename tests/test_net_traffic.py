"""pyns.net under load: traffic across veths, a bridge and a gateway; a 2,000-link dump; the
per-handle socket cache; threads sharing a handle. Every link and address lives in namespaces
the test made.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Callable

import pyns
from pyns import net

NsFactory = Callable[[], pyns.Namespace]


def names(netns: pyns.Namespace) -> set[str]:
    return {link.name for link in net.links(netns=netns)}


# ---------------------------------------------------------------- traffic


def _addr_up(ns: pyns.Namespace, link: str, cidr: str) -> None:
    net.add_addr(link, cidr, netns=ns)
    net.set_link(link, up=True, netns=ns)


def _echo_server(ns: pyns.Namespace, host: str) -> tuple[socket.socket, threading.Thread]:
    """A TCP echo server on a socket made inside `ns` (a socket stays in its netns)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with ns.enter():
        srv = socket.create_server((host, 0), family=family)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.sendall(conn.recv(1024).upper())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, t


def _echo(ns: pyns.Namespace, server: socket.socket, payload: bytes) -> bytes:
    host, port = server.getsockname()[:2]
    with ns.enter():
        c = socket.create_connection((host, port), timeout=10)
    with c:
        c.sendall(payload)
        return c.recv(1024)


def test_tcp_echo_across_a_veth(make_netns: NsFactory) -> None:
    a, b = make_netns(), make_netns()
    net.veth("eth0", "eth0", netns=a, peer_netns=b)  # the same name, in two namespaces
    _addr_up(a, "eth0", "10.1.1.1/24")
    _addr_up(b, "eth0", "10.1.1.2/24")
    srv, t = _echo_server(a, "10.1.1.1")
    with srv:
        assert _echo(b, srv, b"hello over veth") == b"HELLO OVER VETH"
        t.join(10)


def test_tcp_over_ipv6_without_dad_wait(make_netns: NsFactory) -> None:
    a, b = make_netns(), make_netns()
    net.veth("six", "six", netns=a, peer_netns=b)
    _addr_up(a, "six", "fd01::1/64")
    _addr_up(b, "six", "fd01::2/64")
    srv, t = _echo_server(a, "fd01::1")
    with srv:
        assert _echo(b, srv, b"v6") == b"V6"
        t.join(10)


def test_bridge_with_three_veths(make_netns: NsFactory) -> None:
    sw = make_netns()
    net.set_link(net.bridge("br0", netns=sw).name, up=True, netns=sw)
    hosts = []
    for i in (1, 2, 3):
        h = make_netns()
        net.veth("eth0", f"port{i}", netns=h, peer_netns=sw)
        net.set_link(f"port{i}", master="br0", up=True, netns=sw)
        _addr_up(h, "eth0", f"10.2.0.{i}/24")
        hosts.append(h)
    ports = {link.name: link.master for link in net.links(netns=sw)}
    assert ports == {"lo": None, "br0": None, "port1": "br0", "port2": "br0", "port3": "br0"}
    srv, t = _echo_server(hosts[2], "10.2.0.3")
    with srv:
        assert _echo(hosts[0], srv, b"one") == b"ONE"
        t.join(10)
    srv, t = _echo_server(hosts[0], "10.2.0.1")
    with srv:
        assert _echo(hosts[1], srv, b"two") == b"TWO"
        t.join(10)


def test_route_through_a_gateway_namespace(make_netns: NsFactory) -> None:
    a, gw, b = make_netns(), make_netns(), make_netns()
    net.veth("eth0", "left", netns=a, peer_netns=gw)
    net.veth("eth0", "right", netns=b, peer_netns=gw)
    _addr_up(a, "eth0", "10.3.1.1/24")
    _addr_up(gw, "left", "10.3.1.254/24")
    _addr_up(gw, "right", "10.3.2.254/24")
    _addr_up(b, "eth0", "10.3.2.1/24")
    with gw.enter(), open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")  # in gw's namespace: /proc/sys/net follows the opening thread
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_forwarding = f.read().strip()
    net.add_route("default", via="10.3.1.254", netns=a)
    net.add_route("10.3.1.0/24", via="10.3.2.254", netns=b)
    srv, t = _echo_server(b, "10.3.2.1")
    with srv:
        assert _echo(a, srv, b"routed") == b"ROUTED"
        t.join(10)
    with gw.enter(), open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "1"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == host_forwarding


# ---------------------------------------------------------------- scale, sockets, threads


def test_dump_of_2000_links(make_netns: NsFactory) -> None:
    ns = make_netns()
    for i in range(1000):
        net.veth(f"a{i}", f"b{i}", netns=ns)
    got = net.links(netns=ns)
    assert len(got) == 2001
    assert {link.name for link in got} == {"lo"} | {f"{p}{i}" for p in "ab" for i in range(1000)}
    assert len({link.index for link in got}) == 2001


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_sockets_are_cached_per_handle_and_closed_with_it(make_netns: NsFactory) -> None:
    ns = make_netns()
    before = _fds()
    net.links(netns=ns)
    assert _fds() == before + 1  # the handle's socket
    for _ in range(20):
        net.link("lo", netns=ns)
    assert _fds() == before + 1
    net.links(netns=f"/proc/self/fd/{ns.fileno()}")  # no handle to cache on: nothing kept
    net.links()
    assert _fds() == before + 1
    ns.close()
    assert _fds() == before - 1


def test_a_cached_socket_does_not_keep_its_namespace_alive(make_netns: NsFactory) -> None:
    a, b = make_netns(), make_netns()
    net.veth("keep0", "keep1", netns=a, peer_netns=b)
    assert "keep0" in names(a)  # a's handle now holds a socket in a
    a.close()  # the last reference: the namespace and keep0 go, and keep1 with it
    deadline = time.monotonic() + 20
    while "keep1" in names(b):
        assert time.monotonic() < deadline, "the namespace outlived its handle"
        time.sleep(0.02)


def test_socket_cache_is_bounded(make_netns: NsFactory) -> None:
    before = _fds()
    handles = [make_netns() for _ in range(300)]
    for h in handles:
        assert net.link("lo", netns=h).up
    assert _fds() - before <= 300 + 256
    for h in handles:
        h.close()
    assert _fds() == before


def test_threads_share_a_handle(make_netns: NsFactory) -> None:
    ns = make_netns()
    net.veth("t0", "t1", netns=ns)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                assert names(ns) == {"lo", "t0", "t1"}
                assert net.link("t1", netns=ns).kind == "veth"
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
