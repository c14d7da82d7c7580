"""pyns.net: links, veth, bridges, addresses and routes by netlink, in namespaces the tests make.

Nothing here configures the host's root network namespace: every link, address and route
lives in a namespace made by the test, and goes away with it.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

import pyns
from pyns import net

NsFactory = Callable[[], pyns.Namespace]


@pytest.fixture
def named(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """`named()` returns the name of a new netns under /run/netns. Tests that use it are
    marked `private_mounts`, so that not even /run/netns's own mount can outlive them."""
    assert request.node.get_closest_marker("private_mounts"), "mark the test private_mounts"
    names: list[str] = []

    def make() -> str:
        name = f"pyns-t{os.getpid()}-{len(names)}"
        pyns.netns.add(name).close()
        names.append(name)
        return name

    try:
        yield make
    finally:
        for name in names:
            pyns.netns.remove(name)


def ip(*args: str, ns: str | None = None) -> Any:
    """`ip -j ARGS` (in named netns `ns`), parsed."""
    argv = ["ip", *(["-n", ns] if ns else []), "-j", *args]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


def ip_do(*args: str, ns: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)


def names(netns: Any) -> set[str]:
    return {link.name for link in net.links(netns=netns)}


def root_links() -> set[str]:
    return {link.name for link in net.links()}


# ---------------------------------------------------------------- links


def test_veth_peer_is_born_in_its_namespace(make_netns: NsFactory) -> None:
    before = root_links()
    a, b = make_netns(), make_netns()
    va, vb = net.veth("va", "vb", netns=a, peer_netns=b)
    assert (va.name, va.kind, va.up, vb.name, vb.kind) == ("va", "veth", False, "vb", "veth")
    assert names(a) == {"lo", "va"}
    assert names(b) == {"lo", "vb"}
    assert net.link("vb", netns=b) == vb
    assert root_links() == before


def test_peer_defaults_to_the_same_namespace(make_netns: NsFactory) -> None:
    a = make_netns()
    net.veth("x0", "x1", netns=a)
    assert names(a) == {"lo", "x0", "x1"}


@pytest.mark.private_mounts
def test_what_pyns_sets_ip_reads(named: Callable[[], str]) -> None:
    n = named()
    net.veth("v0", "v1", netns=n)
    net.bridge("br0", netns=n)
    net.set_link("v0", up=True, mtu=1400, mac="02:00:00:00:00:0a", master="br0", netns=n)
    net.set_link("br0", up=True, netns=n)
    net.add_addr("v1", "10.7.0.1/24", netns=n)
    net.add_addr("v1", "fd07::1/64", netns=n)
    net.set_link("v1", up=True, netns=n)
    net.add_route("10.8.0.0/16", via="10.7.0.254", metric=7, netns=n)
    net.add_route("fd08::/64", via="fd07::fe", netns=n)
    net.add_route("default", dev="v1", netns=n)

    by_name = {d["ifname"]: d for d in ip("-d", "link", "show", ns=n)}
    for link in net.links(netns=n):
        d = by_name[link.name]
        assert d["ifindex"] == link.index
        assert d["mtu"] == link.mtu
        assert d["address"] == link.mac
        assert ("UP" in d["flags"]) == link.up
        assert d.get("master") == link.master
        assert d.get("linkinfo", {}).get("info_kind") == link.kind
    assert set(by_name) == names(n)
    v0 = by_name["v0"]
    assert (v0["mtu"], v0["address"], v0["master"]) == (1400, "02:00:00:00:00:0a", "br0")

    # Link-local IPv6 addresses and routes come and go with carrier events: leave them out.
    theirs = {
        (d["ifname"], a["family"], a["local"], a["prefixlen"], a["scope"])
        for d in ip("addr", "show", ns=n)
        for a in d["addr_info"]
        if a["scope"] != "link"
    }
    ours = {
        (a.link, a.family, a.address, a.prefixlen, a.scope)
        for a in net.addrs(netns=n)
        if a.scope != "link"
    }
    assert ours == theirs
    assert ("v1", "inet6", "fd07::1", 64, "global") in ours
    v6 = [a for d in ip("-6", "addr", "show", "dev", "v1", ns=n) for a in d["addr_info"]]
    fd07 = next(a for a in v6 if a["local"] == "fd07::1")
    assert not fd07.get("tentative"), "the IPv6 address waits for DAD"
    assert fd07.get("nodad") is True

    theirs_routes = {
        (r["dst"], r.get("gateway"), r.get("dev"), r.get("metric"))
        for fam in ("-4", "-6")
        for r in ip(fam, "route", "show", "table", "main", ns=n)
        if r.get("type", "unicast") == "unicast" and not r["dst"].startswith("fe80")
    }
    ours_routes = {
        (r.dst, r.via, r.dev, r.metric) for r in net.routes(netns=n) if not r.dst.startswith("fe80")
    }
    assert ours_routes >= {
        ("10.8.0.0/16", "10.7.0.254", "v1", 7),
        ("default", None, "v1", None),
        ("10.7.0.0/24", None, "v1", None),
    }
    assert ours_routes == theirs_routes
    route = next(r for r in net.routes(netns=n) if r.dst == "10.8.0.0/16")
    assert (route.protocol, route.scope, route.type, route.family) == (
        "boot",
        "global",
        "unicast",
        "inet",
    )


@pytest.mark.private_mounts
def test_what_ip_sets_pyns_reads(named: Callable[[], str]) -> None:
    n = named()
    ip_do("link", "add", "e0", "type", "veth", "peer", "name", "e1", ns=n)
    ip_do("link", "set", "e0", "mtu", "1280", "address", "02:00:00:00:01:01", "up", ns=n)
    ip_do("addr", "add", "10.9.0.1/24", "dev", "e0", ns=n)
    ip_do("addr", "add", "fd09::1/64", "dev", "e0", "nodad", ns=n)
    ip_do("route", "add", "10.10.0.0/16", "via", "10.9.0.2", "metric", "5", ns=n)
    e0 = net.link("e0", netns=n)
    assert (e0.kind, e0.mtu, e0.mac, e0.up) == ("veth", 1280, "02:00:00:00:01:01", True)
    assert net.link("e1", netns=n).up is False
    cidrs = {a.cidr for a in net.addrs("e0", netns=n)}
    assert {"10.9.0.1/24", "fd09::1/64"} <= cidrs
    r = next(r for r in net.routes(netns=n) if r.dst == "10.10.0.0/16")
    assert (r.via, r.dev, r.metric, r.protocol) == ("10.9.0.2", "e0", 5, "boot")


def test_set_link_changes(make_netns: NsFactory) -> None:
    ns = make_netns()
    net.veth("c0", "c1", netns=ns)
    br = net.bridge("br1", netns=ns)
    assert (br.kind, br.up) == ("bridge", False)
    net.set_link("c0", up=True, mtu=9000, mac="02:aa:bb:cc:dd:ee", master="br1", netns=ns)
    c0 = net.link("c0", netns=ns)
    assert (c0.up, c0.mtu, c0.mac, c0.master) == (True, 9000, "02:aa:bb:cc:dd:ee", "br1")
    net.set_link("c0", up=False, nomaster=True, netns=ns)
    c0 = net.link("c0", netns=ns)
    assert (c0.up, c0.master) == (False, None)
    net.set_link("c0", rename="renamed0", netns=ns)
    assert names(ns) == {"lo", "c1", "br1", "renamed0"}
    assert net.link("renamed0", netns=ns).index == c0.index
    net.set_link("renamed0", netns=ns)  # nothing to change: nothing happens


def test_move_to_removes_the_link_from_the_source(make_netns: NsFactory) -> None:
    a, b = make_netns(), make_netns()
    net.veth("m0", "m1", netns=a)
    net.set_link("m0", move_to=b, rename="moved0", up=True, mtu=1300, netns=a)
    assert names(a) == {"lo", "m1"}
    moved = net.link("moved0", netns=b)
    assert (moved.up, moved.mtu, moved.kind) == (True, 1300, "veth")
    net.set_link("moved0", move_to=a, netns=b)
    assert names(b) == {"lo"}
    assert net.link("moved0", netns=a).up is False  # moving brings a link down


def link_state(ns: str) -> dict[str, tuple[Any, ...]]:
    """What `ip -j link` says of each link of named netns `ns`: index, up, MTU, MAC, master."""
    return {
        d["ifname"]: (d["ifindex"], "UP" in d["flags"], d["mtu"], d["address"], d.get("master"))
        for d in ip("link", "show", ns=ns)
    }


@pytest.mark.private_mounts
def test_set_link_with_a_master_that_takes_no_ports_changes_nothing(
    named: Callable[[], str],
) -> None:
    n = named()
    net.bridge("br0", netns=n)
    net.veth("v0", "v1", netns=n)
    net.set_link("v0", master="br0", netns=n)
    before = link_state(n)
    with pytest.raises(ValueError, match=r"master 'v1' is a veth, not a link that takes ports"):
        net.set_link("v0", up=True, mtu=1300, rename="v9", master="v1", netns=n)
    with pytest.raises(ValueError, match="'lo' is a device of no kind"):
        net.set_link("v0", up=True, master="lo", netns=n)
    with pytest.raises(ValueError, match="'br0' cannot be its own master"):
        net.set_link("br0", up=True, master="br0", netns=n)
    with pytest.raises(LookupError, match="no link named 'nobr'"):
        net.set_link("v0", mtu=1300, master="nobr", netns=n)
    assert link_state(n) == before


@pytest.mark.private_mounts
def test_set_link_checks_the_mtu_range_and_a_new_name_first(named: Callable[[], str]) -> None:
    n = named()
    net.veth("v0", "v1", netns=n)
    before = link_state(n)
    with pytest.raises(ValueError, match=r"mtu must be between 68 and 65535 for 'v0' \(a veth\)"):
        net.set_link("v0", up=True, rename="v2", mtu=10, netns=n)
    with pytest.raises(ValueError, match="65535"):
        net.set_link("v0", up=True, mtu=65536, netns=n)
    with pytest.raises(FileExistsError) as e:
        net.set_link("v0", up=True, mtu=1400, rename="v1", netns=n)
    assert e.value.errno == 17 and any("a name taken already" in x for x in e.value.__notes__)
    assert link_state(n) == before
    net.set_link("v0", rename="v0", netns=n)  # its own name is not taken
    net.set_link("lo", mtu=200_000, netns=n)  # lo has no maximum
    assert net.link("lo", netns=n).mtu == 200_000


@pytest.mark.private_mounts
def test_a_change_the_kernel_refuses_is_put_back(named: Callable[[], str]) -> None:
    n = named()
    net.bridge("b0", netns=n)
    net.bridge("b1", netns=n)
    before = link_state(n)
    # The kernel applies MAC, MTU, name and up before it refuses the master (ELOOP).
    with pytest.raises(OSError) as e:
        net.set_link("b0", up=True, mtu=1300, mac="02:00:00:00:0b:00", rename="bx", master="b1",
                     netns=n)  # fmt: skip
    assert e.value.errno == 40
    assert any("the kernel says: Can not enslave a bridge to a bridge" in x for x in e.value.__notes__)
    assert link_state(n) == before


@pytest.fixture
def full_bridge(named: Callable[[], str]) -> str:
    """A named netns with bridge `full` that has the most ports a bridge can have (1023)."""
    n = named()
    net.bridge("full", netns=n)
    batch = "".join(f"link add p{i} master full type veth peer q{i}\n" for i in range(1023))
    subprocess.run(["ip", "-n", n, "-batch", "-"], input=batch, text=True, check=True)
    return n


@pytest.mark.private_mounts
def test_a_port_keeps_its_master_when_another_refuses_it(full_bridge: str) -> None:
    n = full_bridge
    net.bridge("br0", netns=n)
    net.veth("v0", "v1", netns=n)
    net.set_link("v0", master="br0", netns=n)
    before = link_state(n)
    # Releasing v0 from br0 comes first; the full bridge then refuses it (EXFULL).
    with pytest.raises(OSError) as e:
        net.set_link("v0", up=True, mtu=1300, master="full", netns=n)
    assert e.value.errno == 54
    assert link_state(n) == before


@pytest.mark.private_mounts
def test_a_move_the_kernel_refuses_half_way_comes_back(
    named: Callable[[], str], full_bridge: str
) -> None:
    a, b = named(), full_bridge
    net.bridge("br0", netns=a)
    net.veth("v0", "v1", netns=a)
    net.set_link("v0", up=True, mtu=1400, master="br0", netns=a)
    before_a, before_b = link_state(a), link_state(b)
    # The move (and rename) comes first, then the full bridge refuses the link.
    with pytest.raises(OSError) as e:
        net.set_link("v0", move_to=b, rename="moved", master="full", up=True, netns=a)
    assert e.value.errno == 54
    after_a = link_state(a)
    # Back home under its name, up, in its bridge; the kernel may give it a new index.
    assert {k: v[1:] for k, v in after_a.items()} == {k: v[1:] for k, v in before_a.items()}
    assert link_state(b) == before_b
    # From the calling thread's own namespace and back.
    with pyns.isolate(net=True):
        net.veth("t0", "t1")
        with pytest.raises(OSError):
            net.set_link("t0", move_to=b, master="full", up=True)
        assert {x.name for x in net.links()} == {"lo", "t0", "t1"}
    assert link_state(b) == before_b


def root_qdisc(ns: str, dev: str) -> tuple[str, str] | None:
    """`tc -j qdisc show` of `dev`'s root in named netns `ns`: (kind, handle), None for the
    default (a veth's noqueue, which tc does not list)."""
    out = subprocess.run(["tc", "-n", ns, "-j", "qdisc", "show", "dev", dev], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    root = next((q for q in json.loads(out) if q.get("root")), None)
    return None if root is None else (root["kind"], root["handle"])


@pytest.mark.private_mounts
def test_a_new_shape_replaces_the_old_in_one_step(named: Callable[[], str]) -> None:
    n = named()
    net.veth("s0", "s1", netns=n)
    net.shape("s0", rate_mbit=10, netns=n)
    assert root_qdisc(n, "s0") == ("tbf", "1:")
    net.blackhole("s0", netns=n)  # the old root makes way only once the new one exists
    assert root_qdisc(n, "s0") == ("blackhole", "3:")
    net.shape("s0", rate_mbit=20, netns=n)
    assert root_qdisc(n, "s0") == ("tbf", "1:")
    try:
        net.shape("s0", delay_ms=5, netns=n)
    except pyns.UnsupportedError:  # no netem: the kernel refused, the old shape is intact
        assert root_qdisc(n, "s0") == ("tbf", "1:")
    else:
        assert root_qdisc(n, "s0") == ("netem", "3:")
    net.unshape("s0", netns=n)
    assert root_qdisc(n, "s0") is None


def test_delete_link_deletes_both_ends(make_netns: NsFactory) -> None:
    a, b = make_netns(), make_netns()
    net.veth("d0", "d1", netns=a, peer_netns=b)
    net.delete_link("d0", netns=a)
    assert names(a) == {"lo"}
    assert names(b) == {"lo"}
    with pytest.raises(LookupError, match="no link named 'd0'") as e:
        net.delete_link("d0", netns=a)
    assert e.value.errno == 19  # type: ignore[attr-defined]
    assert any("RTM_DELLINK d0" in n for n in e.value.__notes__)


def test_loopback_up_in_another_namespace(make_netns: NsFactory) -> None:
    with pyns.isolate(net=True, loopback=False) as iso:
        ns = iso.namespaces["net"]
    try:
        assert net.link("lo", netns=ns).up is False
        net.loopback_up(netns=ns)
        assert net.link("lo", netns=ns).up is True
        with ns.enter():
            with socket.create_server(("127.0.0.1", 0)) as srv:
                socket.create_connection(srv.getsockname(), timeout=5).close()
    finally:
        ns.close()


def test_results_are_immutable_comparable_picklable_values(make_netns: NsFactory) -> None:
    ns = make_netns()
    a, b = net.veth("p0", "p1", netns=ns)
    assert repr(a) == (
        f"Link(name='p0', index={a.index}, kind='veth', mac={a.mac!r}, mtu=1500, up=False, "
        "master=None)"
    )
    assert eval(repr(a), {"Link": net.Link}) == a
    assert pickle.loads(pickle.dumps(a)) == a
    assert len({a, b, net.link("p0", netns=ns)}) == 2
    with pytest.raises(AttributeError):
        a.name = "x"  # type: ignore[misc]
    net.add_addr("p0", "10.0.0.1/24", netns=ns)
    net.set_link("p0", up=True, netns=ns)
    (addr,) = [x for x in net.addrs("p0", netns=ns) if x.family == "inet"]
    assert eval(repr(addr), {"Addr": net.Addr}) == addr
    assert pickle.loads(pickle.dumps(addr)) == addr
    (route,) = [r for r in net.routes(netns=ns) if r.family == "inet"]
    assert repr(route) == (
        "Route(dst='10.0.0.0/24', via=None, dev='p0', metric=None, family='inet', "
        "protocol='kernel', scope='link', type='unicast', src='10.0.0.1')"
    )
    assert eval(repr(route), {"Route": net.Route}) == route
    assert pickle.loads(pickle.dumps(route)) == route


# ---------------------------------------------------------------- addresses and routes


def test_addresses_v4_and_v6(make_netns: NsFactory) -> None:
    ns = make_netns()
    net.veth("a0", "a1", netns=ns)
    net.add_addr("a0", "10.1.1.1/24", netns=ns)
    net.add_addr("a0", "fd00::1/64", netns=ns)
    net.add_addr("a0", "10.1.1.9", netns=ns)  # a host address, /32
    import ipaddress

    net.add_addr("a1", ipaddress.ip_interface("10.1.1.2/24"), netns=ns)
    got = {a.cidr for a in net.addrs("a0", netns=ns)}
    assert got == {"10.1.1.1/24", "fd00::1/64", "10.1.1.9/32"}
    assert [a.interface for a in net.addrs("a1", netns=ns)] == [
        ipaddress.ip_interface("10.1.1.2/24")
    ]
    with pytest.raises(FileExistsError) as e:
        net.add_addr("a0", "10.1.1.1/24", netns=ns)
    assert any("RTM_NEWADDR 10.1.1.1/24 on a0" in n for n in e.value.__notes__)
    net.del_addr("a0", "10.1.1.1/24", netns=ns)
    net.del_addr("a0", "fd00::1/64", netns=ns)
    assert {a.cidr for a in net.addrs("a0", netns=ns)} == {"10.1.1.9/32"}
    with pytest.raises(LookupError, match="'a0' has no address 10.1.1.1/24"):
        net.del_addr("a0", "10.1.1.1/24", netns=ns)
    all_addrs = net.addrs(netns=ns)
    assert {a.link for a in all_addrs} >= {"lo", "a0", "a1"}


def test_routes_add_and_delete(make_netns: NsFactory) -> None:
    ns = make_netns()
    net.veth("r0", "r1", netns=ns)
    net.set_link("r0", up=True, netns=ns)
    net.add_addr("r0", "10.4.0.1/24", netns=ns)
    net.add_addr("r0", "fd04::1/64", netns=ns)
    net.add_route("default", via="10.4.0.254", netns=ns)
    net.add_route("default", via="fd04::fe", metric=100, netns=ns)
    net.add_route("10.5.0.0/16", dev="r0", metric=3, netns=ns)
    table = {(r.dst, r.family, r.via, r.dev, r.metric) for r in net.routes(netns=ns)}
    assert ("default", "inet", "10.4.0.254", "r0", None) in table
    assert ("default", "inet6", "fd04::fe", "r0", 100) in table
    assert ("10.5.0.0/16", "inet", None, "r0", 3) in table
    link_scope = next(r for r in net.routes(netns=ns) if r.dst == "10.5.0.0/16")
    assert link_scope.scope == "link"
    with pytest.raises(FileExistsError):
        net.add_route("10.5.0.0/16", dev="r0", metric=3, netns=ns)
    net.del_route("default", netns=ns)
    net.del_route("default", via="fd04::fe", netns=ns)
    net.del_route("10.5.0.0/16", dev="r0", netns=ns)
    left = {(r.dst, r.family) for r in net.routes(netns=ns)}
    assert ("default", "inet") not in left and ("default", "inet6") not in left
    assert ("10.5.0.0/16", "inet") not in left
    with pytest.raises(LookupError, match="no such route to 10.5.0.0/16"):
        net.del_route("10.5.0.0/16", netns=ns)
    with pytest.raises(OSError) as e:  # the gateway is on no connected network
        net.add_route("10.6.0.0/16", via="192.0.2.77", netns=ns)
    assert e.value.errno == 101  # ENETUNREACH


# ---------------------------------------------------------------- netns= forms


@pytest.mark.private_mounts
def test_netns_accepts_pid_path_name_handle_and_process(
    make_netns: NsFactory, named: Callable[[], str]
) -> None:
    n = named()
    net.veth("byname", "peer", netns=n)
    assert "byname" in names(n)
    assert "byname" in names(f"/run/netns/{n}")
    with pyns.netns.open(n) as h:
        assert "byname" in names(h)
    p = subprocess.Popen(["ip", "netns", "exec", n, "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{p.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert "byname" in names(p.pid)
        assert "byname" in names(p)  # anything with a .pid, like pyns.Process
    finally:
        p.kill()
        p.wait()


def test_wrong_netns_arguments() -> None:
    with pytest.raises(FileNotFoundError):
        net.links(netns="pyns-no-such-netns")
    with pytest.raises(ValueError, match="not a uts namespace"):
        with pyns.Namespace.current("uts") as uts:
            net.links(netns=uts)
    with pytest.raises(TypeError, match="netns must be"):
        net.links(netns=1.5)
    with pytest.raises(TypeError, match="netns must be"):
        net.links(netns=True)
    with pytest.raises(ValueError, match="pid must be a positive"):
        net.links(netns=0)
    closed = pyns.Namespace.current("net")
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        net.links(netns=closed)


# ---------------------------------------------------------------- bad input


BAD_CALLS: list[tuple[str, Callable[[Any], object], type[Exception], str]] = [
    ("long name", lambda ns: net.veth("x" * 16, "y", netns=ns), ValueError, "15 bytes"),
    ("long peer", lambda ns: net.veth("x", "é" * 8, netns=ns), ValueError, "15 bytes"),
    ("empty name", lambda ns: net.bridge("", netns=ns), ValueError, "1 to 15 bytes"),
    ("slash", lambda ns: net.bridge("a/b", netns=ns), ValueError, "'/'"),
    ("space", lambda ns: net.bridge("a b", netns=ns), ValueError, "whitespace"),
    ("dot", lambda ns: net.bridge(".", netns=ns), ValueError, "cannot be"),
    ("dotdot", lambda ns: net.bridge("..", netns=ns), ValueError, "cannot be"),
    ("same ends", lambda ns: net.veth("s", "s", netns=ns), ValueError, "two names"),
    ("cidr", lambda ns: net.add_addr("lo", "10.0.0.300/8", netns=ns), ValueError, "bad address"),
    ("prefix", lambda ns: net.add_addr("lo", "10.0.0.3/33", netns=ns), ValueError, "0 to 32"),
    ("v6 prefix", lambda ns: net.add_addr("lo", "fd00::1/129", netns=ns), ValueError, "128"),
    ("cidr type", lambda ns: net.add_addr("lo", 42, netns=ns), TypeError, "cidr"),
    ("mac", lambda ns: net.set_link("lo", mac="02:00:00:00:00", netns=ns), ValueError, "MAC"),
    (
        "mcast mac",
        lambda ns: net.set_link("lo", mac="01:00:5e:00:00:01", netns=ns),
        ValueError,
        "multicast",
    ),
    ("mtu", lambda ns: net.set_link("lo", mtu=0, netns=ns), ValueError, "mtu"),
    ("mtu neg", lambda ns: net.set_link("lo", mtu=-5, netns=ns), ValueError, "mtu"),
    (
        "both masters",
        lambda ns: net.set_link("lo", master="br", nomaster=True, netns=ns),
        ValueError,
        "not both",
    ),
    ("long master", lambda ns: net.set_link("lo", master="m" * 20, netns=ns), ValueError, "15"),
    (
        "host bits",
        lambda ns: net.add_route("10.0.0.1/8", dev="lo", netns=ns),
        ValueError,
        "host bits",
    ),
    (
        "families",
        lambda ns: net.add_route("10.0.0.0/8", via="fd00::1", netns=ns),
        ValueError,
        "IPv6",
    ),
    ("no via/dev", lambda ns: net.add_route("default", netns=ns), ValueError, "via="),
    ("dst", lambda ns: net.add_route("defualt", dev="lo", netns=ns), ValueError, "bad address"),
    ("gateway", lambda ns: net.add_route("default", via="gw", netns=ns), ValueError, "gateway"),
    (
        "metric",
        lambda ns: net.add_route("default", dev="lo", metric=-1, netns=ns),
        ValueError,
        "metric",
    ),
    ("mtu huge", lambda ns: net.set_link("lo", mtu=2**40, netns=ns), ValueError, "mtu must be"),
    ("mtu huger", lambda ns: net.set_link("lo", mtu=2**70, netns=ns), ValueError, "mtu must be"),
    ("mtu bool", lambda ns: net.set_link("lo", mtu=True, netns=ns), TypeError, "mtu must be an int"),
    ("mtu str", lambda ns: net.set_link("lo", mtu="9000", netns=ns), TypeError, "mtu must be an int"),
    ("mtu float", lambda ns: net.set_link("lo", mtu=1500.0, netns=ns), TypeError, "mtu"),
    (
        "metric huge",
        lambda ns: net.add_route("default", dev="lo", metric=2**64, netns=ns),
        ValueError,
        "metric must be",
    ),
    (
        "metric float",
        lambda ns: net.del_route("default", dev="lo", metric=1.5, netns=ns),
        TypeError,
        "metric must be an int",
    ),
    (
        "prefix huge",
        lambda ns: net.add_addr("lo", "10.0.0.1/" + "9" * 30, netns=ns),
        ValueError,
        "prefix",
    ),
    (
        "route prefix huge",
        lambda ns: net.add_route("10.0.0.0/" + "9" * 30, dev="lo", netns=ns),
        ValueError,
        "prefix",
    ),
    ("rate nan", lambda ns: net.shape("lo", rate_mbit=float("nan"), netns=ns), ValueError, "rate_mbit"),
    ("delay neg", lambda ns: net.shape("lo", delay_ms=-1, netns=ns), ValueError, "delay_ms"),
    ("delay inf", lambda ns: net.shape("lo", delay_ms=float("inf"), netns=ns), ValueError, "delay_ms"),
    ("delay huge", lambda ns: net.shape("lo", delay_ms=1e300, netns=ns), ValueError, "delay_ms"),
    ("delay int", lambda ns: net.shape("lo", delay_ms=2**2000, netns=ns), ValueError, "delay_ms"),
    ("jitter big", lambda ns: net.shape("lo", jitter_ms=2**64, netns=ns), ValueError, "jitter_ms"),
    ("loss bool", lambda ns: net.shape("lo", loss_pct=True, netns=ns), TypeError, "loss_pct"),
    ("loss str", lambda ns: net.shape("lo", loss_pct="5", netns=ns), TypeError, "loss_pct"),
    ("no kind master", lambda ns: net.set_link("lo", master="lo", netns=ns), ValueError, "no kind"),
    ("unknown link", lambda ns: net.link("nope0", netns=ns), LookupError, "no link named"),
    ("unknown set", lambda ns: net.set_link("nope0", up=True, netns=ns), LookupError, "nope0"),
    ("unknown master", lambda ns: net.set_link("lo", master="nobr", netns=ns), LookupError, "nobr"),
    (
        "unknown rename",
        lambda ns: net.set_link("nope0", rename="x", netns=ns),
        LookupError,
        "nope0",
    ),
    (
        "unknown addr link",
        lambda ns: net.add_addr("nope0", "10.0.0.1/8", netns=ns),
        LookupError,
        "nope0",
    ),
    ("unknown addrs link", lambda ns: net.addrs("nope0", netns=ns), LookupError, "nope0"),
    (
        "unknown dev",
        lambda ns: net.add_route("default", dev="nope0", netns=ns),
        LookupError,
        "nope0",
    ),
]


@pytest.mark.parametrize(
    "call,exc,match", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_changes_nothing(
    make_netns: NsFactory, call: Callable[[Any], object], exc: type[Exception], match: str
) -> None:
    ns = make_netns()
    before = (net.links(netns=ns), net.addrs(netns=ns), net.routes(netns=ns))
    with pytest.raises(exc, match=match):
        call(ns)
    assert (net.links(netns=ns), net.addrs(netns=ns), net.routes(netns=ns)) == before


def test_kernel_refusals_are_oserrors_with_the_request(make_netns: NsFactory) -> None:
    ns = make_netns()
    net.veth("k0", "k1", netns=ns)
    with pytest.raises(FileExistsError) as e:
        net.veth("k0", "k2", netns=ns)
    assert e.value.errno == 17
    assert any("RTM_NEWLINK k0" in n for n in e.value.__notes__)
    net.bridge("kb", netns=ns)
    net.bridge("kb0", netns=ns)
    with pytest.raises(OSError) as e2:
        net.set_link("kb", master="kb0", netns=ns)  # a bridge cannot be a bridge's port
    assert e2.value.errno == 40
    assert any("RTM_NEWLINK kb" in n and "the kernel says" in n for n in e2.value.__notes__)


# ---------------------------------------------------------------- rootless


@pytest.mark.kernel
def test_rootless_in_own_user_and_net_namespace(nobody: Callable[..., Any]) -> None:
    r = nobody(
        """
        import json, os, pyns
        from pyns import net
        pyns.unshare(pyns.CLONE_NEWUSER | pyns.CLONE_NEWNET)
        assert os.getuid() == 65534
        net.loopback_up()
        net.veth("v0", "v1")
        net.bridge("br0")
        net.set_link("v0", up=True, master="br0")
        net.set_link("v1", up=True, mtu=1280)
        net.add_addr("v1", "10.0.0.1/24")
        net.add_addr("v1", "fd00::1/64")
        net.add_route("default", via="10.0.0.254")
        with pyns.Namespace.current("net") as me:  # a handle: socket opened by setns there
            links = {l.name: [l.up, l.master, l.mtu] for l in net.links(netns=me)}
        print(json.dumps({
            "uid": os.getuid(),
            "links": links,
            "addrs": sorted(a.cidr for a in net.addrs("v1") if a.scope == "global"),
            "routes": sorted(r.dst for r in net.routes() if r.family == "inet"),
        }))
        """
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["uid"] == 65534
    assert out["links"] == {
        "lo": [True, None, 65536],
        "v0": [True, "br0", 1500],
        "v1": [True, None, 1280],
        "br0": [False, None, 1500],
    }
    assert out["addrs"] == ["10.0.0.1/24", "fd00::1/64"]
    assert out["routes"] == ["10.0.0.0/24", "default"]


def test_rootless_in_a_run_child(nobody: Callable[..., Any]) -> None:
    r = nobody(
        """
        import json, os, pyns
        from pyns import net

        def setup():
            net.loopback_up()
            net.veth("v0", "v1")
            net.add_addr("v1", "10.0.0.1/24")
            net.set_link("v1", up=True)
            return os.getuid(), net.links(), net.addrs("v1")

        uid, links, addrs = pyns.run(setup, user=True, net=True)  # Links come back pickled
        print(json.dumps({
            "uid": uid,
            "links": [[l.name, l.kind, l.up] for l in links],
            "addrs": [a.cidr for a in addrs if a.scope == "global"],
            "here": [l.name for l in net.links()],
        }))
        """
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["uid"] == 65534
    assert sorted(map(tuple, out["links"]), key=str) == sorted(
        [("lo", None, True), ("v0", "veth", False), ("v1", "veth", True)], key=str
    )
    assert out["addrs"] == ["10.0.0.1/24"]
    assert "v0" not in out["here"] and "v1" not in out["here"]


def test_without_privilege_eperm_names_cap_net_admin(nobody: Callable[..., Any]) -> None:
    r = nobody(
        """
        from pyns import net
        try:
            net.bridge("pyns-nope0")
        except PermissionError as e:
            print(e.errno, "|".join(e.__notes__))
        """
    )
    assert r.returncode == 0, r.stderr
    errno, notes = r.stdout.strip().split(" ", 1)
    assert errno == "1"
    assert "RTM_NEWLINK pyns-nope0" in notes and "CAP_NET_ADMIN" in notes
    assert "pyns-nope0" not in root_links()
