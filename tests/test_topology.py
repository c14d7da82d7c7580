"""pyns.testing.Topology: hosts, links, routers, switches, faults, shaping and teardown.

Traffic only flows between namespaces made here; sockets are made inside a host (`enter()`)
and then used from this thread: a socket stays in the network namespace it was made in.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import pyns
from pyns import net
from pyns.testing import Host, Switch, Topology, Veth

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.requires_root


def sock(host: Host, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    """A socket inside `host`'s network namespace."""
    with host.enter():
        return socket.socket(socket.AF_INET, kind)


def udp_echo(src: Host, dst: Host, timeout: float = 2.0, ip: str | None = None) -> bool:
    """One UDP round trip from src to dst (its address `ip`, default its first) and back;
    False on timeout."""
    with sock(dst) as srv, sock(src) as cli:
        srv.bind((ip or dst.ip(), 0))
        srv.settimeout(timeout)
        cli.settimeout(timeout)
        try:
            cli.sendto(b"ping", srv.getsockname())
            data, addr = srv.recvfrom(16)
            srv.sendto(data, addr)
            return cli.recvfrom(16)[0] == b"ping"
        except socket.timeout:
            return False


def namespace_holders(inode: int) -> list[str]:
    """Every /proc entry (ns link or fd) that refers to the namespace with this inode."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for sub in ("ns", "fd"):
            try:
                entries = os.listdir(f"/proc/{pid}/{sub}")
            except OSError:
                continue
            for e in entries:
                try:
                    target = os.readlink(f"/proc/{pid}/{sub}/{e}")
                except OSError:
                    continue
                if target.endswith(f":[{inode}]"):
                    found.append(f"/proc/{pid}/{sub}/{e}")
    with open("/proc/self/mountinfo") as f:
        found += [line for line in f if f"[{inode}]" in line]
    return found


def test_linked_pair_gets_addresses_names_and_traffic(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    link = topology.link(a, b, subnet="10.9.0.0/24")
    assert isinstance(link, Veth)
    assert a.addresses == ["10.9.0.1/24", "fd00:0:0:900::1/64"]  # dual stack: a /64 twin
    assert b.addresses == ["10.9.0.2/24", "fd00:0:0:900::2/64"]
    assert a.ip() == "10.9.0.1" and b.ip(a) == "10.9.0.2" and b.ip("eth0") == "10.9.0.2"
    assert a.interfaces == ["eth0"] and link.addresses == ("10.9.0.1/24", "10.9.0.2/24")
    assert set(a.namespaces) == {"net", "uts", "mnt"}
    mine = pyns.namespaces()
    assert a.namespaces["net"] != mine["net"] and a.namespaces["net"] != b.namespaces["net"]
    assert a.run(socket.gethostname) == "a" and socket.gethostname() != "a"
    with b.enter():
        assert socket.gethostname() == "b"
    links = {lk.name: lk for lk in net.links(netns=a.netns)}
    assert links["eth0"].up and links["lo"].up and links["eth0"].kind == "veth"
    assert udp_echo(a, b) and udp_echo(b, a)


def test_addresses_are_deterministic_and_mtu_applies(topology: Topology) -> None:
    a, b, c = (topology.host(n) for n in "abc")
    topology.link(a, b, mtu=1400)
    topology.link(b, c)
    topology.link(a, c, addresses=("192.168.7.10/24", "192.168.7.20/24"))
    assert a.addresses == ["10.0.0.1/24", "fd00::1/64", "192.168.7.10/24", "fd00:1:c0a8:700::a/64"]
    assert b.addresses == ["10.0.0.2/24", "fd00::2/64", "10.0.1.1/24", "fd00:0:0:1::1/64"]
    assert c.addresses == ["10.0.1.2/24", "fd00:0:0:1::2/64", "192.168.7.20/24", "fd00:1:c0a8:700::14/64"]
    assert c.interfaces == ["eth0", "eth1"] and c.ip(a) == "192.168.7.20"
    assert net.link("eth0", netns=a.netns).mtu == 1400
    assert net.link("eth0", netns=b.netns).mtu == 1400
    assert udp_echo(a, c, ip=c.ip(a))


def test_router_chain_routes_and_reaches(topology: Topology) -> None:
    a, r, b = topology.host("a"), topology.router("r"), topology.host("b")
    topology.link(a, r)
    topology.link(r, b)
    assert [(x.dst, x.via) for x in net.routes(netns=a.netns) if x.via] == [
        ("default", "10.0.0.2"), ("default", "fd00::2")]  # fmt: skip
    assert [(x.dst, x.via) for x in net.routes(netns=b.netns) if x.via] == [
        ("default", "10.0.1.1"), ("default", "fd00:0:0:1::1")]  # fmt: skip
    with b.enter():
        server = socket.create_server((b.ip(), 0))
    with server, sock(a, socket.SOCK_STREAM) as c:
        c.settimeout(5)
        c.connect(server.getsockname())
        peer, addr = server.accept()
        with peer:
            c.sendall(b"via r")
            assert peer.recv(16) == b"via r" and addr[0] == a.ip()


def test_two_routers_and_a_star(topology: Topology) -> None:
    a, r1, r2, b = topology.host("a"), topology.router("r1"), topology.router("r2"), topology.host("b")
    topology.link(a, r1)
    topology.link(r1, r2)
    topology.link(r2, b)
    star = [topology.host(f"s{i}") for i in range(3)]
    for s in star:
        topology.link(s, r2)
    r1_routes = {x.dst: x.via for x in net.routes(netns=r1.netns) if x.via and "." in x.via}
    assert r1_routes == {"10.0.2.0/24": "10.0.1.2", "10.0.3.0/24": "10.0.1.2",
                         "10.0.4.0/24": "10.0.1.2", "10.0.5.0/24": "10.0.1.2"}  # fmt: skip
    assert udp_echo(a, b) and udp_echo(star[0], a) and udp_echo(star[1], star[2])


def test_switch_joins_hosts_on_one_subnet(topology: Topology) -> None:
    sw = topology.switch("sw", subnet="172.16.0.0/24")
    hosts = [topology.host(f"h{i}") for i in range(3)]
    for h in hosts:
        topology.link(h, sw)
    assert isinstance(sw, Switch) and sw.hosts == hosts
    assert [h.ip() for h in hosts] == ["172.16.0.1", "172.16.0.2", "172.16.0.3"]
    ports = [lk for lk in net.links(netns=sw.netns) if lk.master == "br0"]
    assert [p.name for p in ports] == ["eth0", "eth1", "eth2"]
    assert udp_echo(hosts[0], hosts[2]) and udp_echo(hosts[1], hosts[0])


def test_partition_times_out_and_heal_restores(topology: Topology) -> None:
    client, server = topology.host("client"), topology.host("server")
    topology.link(client, server)
    with server.enter():
        listener = socket.create_server((server.ip(), 0))
    with listener:
        assert udp_echo(client, server)
        topology.partition(client, server)
        assert net.link("eth0", netns=client.netns).up  # still up: silence, no error
        with sock(client, socket.SOCK_STREAM) as c:
            c.settimeout(0.3)
            with pytest.raises(socket.timeout):
                c.connect(listener.getsockname())
        assert not udp_echo(client, server, timeout=0.2)
        topology.heal(client, server)
        with sock(client, socket.SOCK_STREAM) as c:
            c.settimeout(5)
            c.connect(listener.getsockname())


def test_partition_of_a_switch_port(topology: Topology) -> None:
    sw = topology.switch("sw")
    a, b, c = (topology.host(n) for n in "abc")
    for h in (a, b, c):
        topology.link(h, sw)
    assert udp_echo(a, b)  # neighbours known: no ARP retry (1 s) needed after the heal
    topology.partition(a, "sw")
    assert not udp_echo(a, b, timeout=0.2)
    assert udp_echo(b, c)
    topology.heal(a, sw)
    assert udp_echo(a, b)


def _throughput_mbit(src: Host, dst: Host, nbytes: int) -> float:
    with dst.enter():
        server = socket.create_server((dst.ip(), 0))
    received = []

    def drain() -> None:
        peer, _ = server.accept()
        with peer:
            n = 0
            while n < nbytes:
                chunk = peer.recv(65536)
                if not chunk:
                    break
                n += len(chunk)
            received.append(n)

    th = threading.Thread(target=drain)
    th.start()
    with server, sock(src, socket.SOCK_STREAM) as c:
        c.settimeout(10)
        c.connect(server.getsockname())
        t0 = time.perf_counter()
        c.sendall(b"\0" * nbytes)
        th.join(10)
        elapsed = time.perf_counter() - t0
    assert received == [nbytes]
    return nbytes * 8 / elapsed / 1e6


def test_shape_rate_limits_throughput(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    topology.link(a, b)
    free = _throughput_mbit(a, b, 4_000_000)
    topology.shape(a, b, rate_mbit=40)
    shaped = _throughput_mbit(a, b, 1_500_000)
    assert 40 * 0.6 < shaped < 40 * 1.3, (free, shaped)
    assert free > 4 * shaped
    topology.unshape(a, b)
    assert _throughput_mbit(a, b, 4_000_000) > 4 * shaped


def _netem_or_skip(topology: Topology, a: Host, b: Host, **kw: float) -> None:
    try:
        topology.shape(a, b, **kw)
    except pyns.UnsupportedError as e:
        pytest.skip(f"netem is missing: {e}")


def _rtts(src: Host, dst: Host, n: int) -> list[float]:
    with sock(dst) as srv, sock(src) as cli:
        srv.bind((dst.ip(), 0))
        stop = threading.Event()

        def echo() -> None:
            srv.settimeout(0.1)
            while not stop.is_set():
                try:
                    data, addr = srv.recvfrom(16)
                    srv.sendto(data, addr)
                except socket.timeout:
                    pass

        th = threading.Thread(target=echo)
        th.start()
        cli.settimeout(2)
        out = []
        try:
            for _ in range(n):
                t0 = time.perf_counter()
                cli.sendto(b"x", srv.getsockname())
                cli.recvfrom(16)
                out.append(time.perf_counter() - t0)
        finally:
            stop.set()
            th.join()
    return out


@pytest.mark.kernel
def test_shape_delay_grows_the_round_trip(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    topology.link(a, b)
    # The fastest round trips: a busy (or emulated) machine only ever adds to one.
    base = min(_rtts(a, b, 20))
    _netem_or_skip(topology, a, b, delay_ms=20)
    for host in (a, b):  # as tc sees it
        with host.enter():
            qdiscs = subprocess.run(
                ["tc", "qdisc", "show"], capture_output=True, text=True, check=True
            ).stdout
        assert "netem" in qdiscs and "delay 20ms" in qdiscs, qdiscs
    shaped = min(_rtts(a, b, 10))
    # Both directions are delayed: the round trip grows by 2 x 20 ms, as a ratio within 0.9-1.5
    # (netem never sends early; the lower bound cannot flake, the upper one is generous).
    assert 0.9 < (shaped - base) / 0.040 < 1.5, (base, shaped)


@pytest.mark.kernel
def test_shape_loss_is_statistical(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    topology.link(a, b)
    _rtts(a, b, 1)  # ARP resolved before any loss: 30 % of the datagrams, not of the queries
    _netem_or_skip(topology, a, b, loss_pct=30)  # netem, or the bpf classifier without it
    with sock(b) as srv, sock(a) as cli:
        # Room for all 600 (the default buffer holds ~270 small datagrams: the rest would be
        # lost to it, not to netem); SO_RCVBUFFORCE (33) goes past rmem_max as root.
        srv.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
        srv.bind((b.ip(), 0))
        srv.settimeout(0.2)
        sent = 600
        for i in range(sent):
            cli.sendto(b"%d" % i, srv.getsockname())
        got = 0
        try:
            while True:
                srv.recvfrom(16)
                got += 1
        except socket.timeout:
            pass
    # One way through one shaped end: 70 % expected; binomial sd ~1.9 % of 600.
    assert 0.6 < got / sent < 0.8, got


def test_shape_checks_arguments(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    topology.link(a, b)
    with pytest.raises(ValueError, match="at least one"):
        topology.shape(a, b)
    with pytest.raises(ValueError, match="loss_pct"):
        topology.shape(a, b, loss_pct=150)
    with pytest.raises(ValueError, match="rate_mbit"):
        topology.shape(a, b, rate_mbit=0)
    with pytest.raises(LookupError):
        net.shape("nope0", rate_mbit=1, netns=a.netns)


def test_topology_errors(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    s1, s2 = topology.switch("s1"), topology.switch("s2")
    with pytest.raises(ValueError, match="already"):
        topology.host("a")
    with pytest.raises(ValueError, match="bad node name"):
        topology.host("x" * 65)
    with pytest.raises(TypeError):
        topology.host(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="itself"):
        topology.link(a, a)
    topology.link(s1, s2)  # one segment
    with pytest.raises(ValueError, match="loop"):
        topology.link(s2, s1)
    with pytest.raises(LookupError, match="no node named 'zz'"):
        topology.link(a, "zz")
    with pytest.raises(ValueError, match="overlaps"):
        topology.link(a, b, subnet=s1.subnet)
    with pytest.raises(ValueError, match="not linked directly"):
        topology.partition(a, s1)  # a switch has no address: only its links can be cut
    with pytest.raises(ValueError, match="mtu"):
        topology.link(a, b, mtu=10)
    with Topology() as other:
        c = other.host("c")
        with pytest.raises(ValueError, match="another topology"):
            topology.link(a, c)
    assert other.closed
    with pytest.raises(ValueError, match="closed"):
        other.host("d")
    with pytest.raises(ValueError, match="closed"):
        c.spawn(["true"])


def test_bad_numbers_and_refused_links_change_nothing(topology: Topology) -> None:
    a, b, c = topology.host("a"), topology.host("b"), topology.host("c")
    for mtu, exc in ((2**40, ValueError), (65536, ValueError), (True, TypeError), ("9000", TypeError)):
        with pytest.raises(exc, match="mtu"):
            topology.link(a, b, mtu=mtu)  # type: ignore[arg-type]
    sw = topology.switch("sw", subnet="10.77.0.0/30")
    topology.link(b, sw)
    topology.link(sw, c)
    with pytest.raises(ValueError, match="no room"):
        topology.link(a, sw)
    net.bridge("eth1", netns=b.netns)  # the name of b's next end
    with pytest.raises(FileExistsError):
        topology.link(a, b)
    assert a.interfaces == [] and a.addresses == [] and len(topology.links) == 2
    link = topology.link(a, c)  # gets the subnet and the name the refused link had
    assert link.names == ("eth0", "eth1") and a.addresses == ["10.0.0.1/24", "fd00::1/64"]
    for kw in ({"rate_mbit": float("nan")}, {"delay_ms": -1}, {"delay_ms": 2**2000}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            topology.shape(a, c, **kw)  # type: ignore[arg-type]


def test_mount_namespace_host(topology: Topology) -> None:
    h = topology.host("m", mnt=True)
    assert h.namespaces["mnt"] != pyns.namespaces()["mnt"]

    def tmpfs_inside() -> bool:
        pyns.mount.tmpfs("/mnt")
        return os.path.ismount("/mnt")

    assert h.run(tmpfs_inside)
    assert not os.path.ismount("/mnt")


def wait_for_links(ns: pyns.Namespace, names: list[str], timeout: float = 10) -> list[str]:
    """The links of `ns` once they are `names` (or after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        have = [lk.name for lk in net.links(netns=ns)]
        if have == names or time.monotonic() > deadline:
            return have
        time.sleep(0.01)


def test_teardown_after_an_exception_kills_and_frees(netns: pyns.Namespace) -> None:
    with pytest.raises(RuntimeError):
        with Topology() as t:
            a, b = t.host("a"), t.host("b")
            t.link(a, b)
            p = a.spawn(["sleep", "60"])
            for i, h in enumerate((a, b)):  # these veths go when the hosts' namespaces go
                net.veth(f"probe{i}", "probe", netns=netns, peer_netns=h.netns)
            raise RuntimeError("boom")
    assert p.returncode == -signal.SIGKILL
    assert a.netns.closed and a.namespaces["uts"].closed
    assert wait_for_links(netns, ["lo"]) == ["lo"]


@pytest.mark.private_mounts  # naming a netns makes /run/netns a mount point
def test_persist_names_the_namespaces() -> None:
    names = ["pyns-test-persist-a", "pyns-test-persist-b"]
    try:
        with Topology(prefix="pyns-test-persist", persist=True) as t:
            a, b = t.host("a"), t.host("b")
            t.link(a, b)
        assert set(names) <= set(pyns.netns.names())
        out = subprocess.run(
            ["ip", "netns", "exec", names[0], "ip", "-o", "addr", "show", "eth0"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "10.0.0.1/24" in out
    finally:
        for n in set(names) & set(pyns.netns.names()):
            pyns.netns.remove(n)


_SCRIPT = """
import os, sys, time
from pyns.testing import Topology
t = Topology()
t.__enter__()
a, b = t.host("a"), t.host("b")
t.link(a, b)
s = t.switch("s"); t.link(a, s)
p = b.spawn(["sleep", "60"])
print(p.pid, a.netns.inode, b.netns.inode, s.netns.inode, a.namespaces["uts"].inode, flush=True)
try:
    time.sleep(60)
finally:
    t.__exit__(None, None, None)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_nothing_is_left_when_the_process_dies(sig: int, netns: pyns.Namespace) -> None:
    """Kills a process that built a topology; its programs die and its network namespaces are
    destroyed. Destruction is observed through veths from each of them to `netns` (made here,
    then let go): the kernel deletes a veth when one of its namespaces goes away. (nsfs inode
    numbers are reused at once by new namespaces, so they cannot tell.)"""
    before = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pid, *inodes = map(int, proc.stdout.readline().split())
    for i, inode in enumerate(inodes[:3]):  # the network namespaces of a, b and s
        holders = namespace_holders(inode)
        assert holders and all(h.startswith((f"/proc/{proc.pid}/", f"/proc/{pid}/"))
                               for h in holders), holders  # fmt: skip
        fd = next(h for h in holders if h.startswith(f"/proc/{proc.pid}/fd/"))
        with pyns.Namespace.open(fd, "net") as ns:
            net.veth(f"probe{i}", "probe", netns=netns, peer_netns=ns)
    assert len(net.links(netns=netns)) == 4
    proc.send_signal(sig)
    proc.wait(10)
    proc.stdout.close()
    assert wait_for_links(netns, ["lo"]) == ["lo"], "a namespace survived"
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{pid}"), "the spawned program survived"
    after = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    assert after == before


def test_examples_run() -> None:
    for name, expect in [
        ("http_across_hosts.py", "client got: 200"),
        ("router_chain.py", "b'hello through r'"),
        ("jepsen_faults.py", "healed: every node hears every node"),
        ("partition_heal.py", "partitioned: timed out"),
    ]:
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, "examples", name)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert expect in out.stdout, out.stdout
    assert "healed: connected" in out.stdout


@pytest.mark.requires_userns
def test_rootless_topology_inside_a_user_namespace(nobody) -> None:
    out = nobody(
        """
        import os, socket, pyns
        from pyns import net
        from pyns.testing import Topology

        def build():
            with Topology() as t:
                a, r, b = t.host("a"), t.router("r"), t.host("b")
                t.link(a, r); t.link(r, b)
                sw = t.switch("sw"); c = t.host("c"); t.link(c, sw); t.link(r, sw)
                t.shape(a, r, rate_mbit=100)
                t.partition(r, b); t.heal(r, b)
                with b.enter():
                    srv = socket.create_server((b.ip(), 0))
                with srv:
                    for h in (a, c):
                        with h.enter():
                            socket.create_connection(srv.getsockname(), timeout=5).close()
                host = b.run(socket.gethostname)
                p = a.spawn(["true"]); p.wait()
                return host, p.returncode, os.getuid()

        print(pyns.run(build, user=True, map_root=True, net=True, uts=True))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('b', 0, 0)"


@pytest.mark.requires_userns
def test_rootless_hosts_in_a_child_sharing_the_host_netns(nobody) -> None:
    out = nobody(
        """
        import socket, subprocess, pyns
        from pyns.testing import Topology

        def build():
            with Topology() as t:
                a, r, b = t.host("a"), t.router("r"), t.host("b")
                t.link(a, r); t.link(r, b)
                t.shape(a, r, rate_mbit=10)
                t.partition(r, b); t.heal(r, b)
                p = b.spawn(["hostname"], stdout=subprocess.PIPE)
                out = p.communicate()[0].decode().strip()
                gw = [x.via for x in pyns.net.routes(netns=a.netns) if x.via]
                return a.addresses, b.run(socket.gethostname), out, gw

        print(pyns.run(build, user=True, map_root=True))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(['10.0.0.1/24', 'fd00::1/64'], 'b', 'b', ['10.0.0.2', 'fd00::2'])"


def test_plugin_checks_and_light_import(nobody) -> None:
    from pyns.testing import plugin

    assert plugin.root_missing() is None
    out = nobody(
        """
        import sys
        import pyns.testing.plugin as p
        print("topology" in sys.modules.get("pyns.testing").__dict__,
              "pyns.testing.topology" in sys.modules)
        print(p.root_missing())
        print(p.userns_missing())
        """
    )
    assert out.returncode == 0, out.stderr
    light, root, userns = out.stdout.splitlines()
    assert light == "False False"
    assert "needs root" in root and "CAP_SYS_ADMIN and CAP_NET_ADMIN" in root
    assert userns == "None"


def test_netns_fixture(netns: pyns.Namespace) -> None:
    assert netns.kind == "net" and netns != pyns.namespaces()["net"]
    assert net.link("lo", netns=netns).up
    net.veth("v0", "v1", netns=netns)
    assert {lk.name for lk in net.links(netns=netns)} == {"lo", "v0", "v1"}


def test_repr_and_lookup(topology: Topology) -> None:
    a = topology.host("a")
    sw = topology.switch("sw", subnet="10.5.0.0/24")
    link = topology.link(a, sw)
    assert repr(a) == "<pyns.testing.Host host 'a' addresses=['10.5.0.1/24', 'fd00:0:0:500::1/64']>"
    assert repr(sw) == "<pyns.testing.Switch 'sw' subnet='10.5.0.0/24'>"
    assert repr(link) == "<pyns.testing.Veth a:eth0=10.5.0.1/24 <-> sw:eth0>"
    assert topology["a"] is a and topology.hosts == [a] and topology.switches == [sw]
    assert "2 nodes, 1 links" in repr(topology)
    assert a.ip(sw) == "10.5.0.1"


def test_waits_work_with_fds_above_1023(topology: Topology) -> None:
    """A big topology holds thousands of fds: waiting for its programs must not use select()."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    filler = [os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) for _ in range(1100)]
    try:
        h = topology.host("h")
        p = h.spawn(["sleep", "0.05"])
        assert p.pidfd is not None and p.pidfd > 1023
        assert p.wait(timeout=5) == 0
        assert h.run(socket.gethostname, timeout=5) == "h"
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_directory_is_made_on_first_use_and_removed_by_close():
    with Topology() as t:
        d = t.directory
        assert os.path.isdir(d) and t.directory == d
        with open(os.path.join(d, "x"), "w") as f:
            f.write("x")
    assert not os.path.exists(d)
    with pytest.raises(ValueError, match="closed"):
        t.directory


def test_the_directory_of_a_killed_topology_is_swept_by_the_next_one():
    """A SIGKILLed owner cannot remove its topology's directory: the next topology made in
    this pid namespace does."""
    code = "from pyns.testing import Topology; t = Topology(); print(t.directory, flush=True)"
    p = subprocess.Popen([sys.executable, "-c", code + "; import time; time.sleep(60)"],
                         stdout=subprocess.PIPE, text=True)  # fmt: skip
    left = p.stdout.readline().strip()
    p.kill()
    p.wait()
    p.stdout.close()
    assert os.path.isdir(left)
    with Topology() as t:
        assert os.path.isdir(t.directory)  # made now: the sweep comes first
        assert not os.path.exists(left)
