"""Partitions between any two nodes of a Topology (FIB rules in the receiver), one-way cuts,
groups, cut_off and heal; checked by traffic and by `ip -j rule` inside the nodes.

Sockets are made inside a host (`enter()`) and used from this thread. A dropped packet shows
as a receive timeout; a packet that arrives needs no wait beyond its round trip.
"""

from __future__ import annotations

import errno
import json
import socket
import subprocess

import pytest

from pyns.testing import Host, Topology

pytestmark = pytest.mark.requires_root
SO_RCVBUFFORCE = 33  # socket(7); not in the socket module


def sock(host: Host, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    with host.enter():
        return socket.socket(socket.AF_INET, kind)


def arrives(src: Host, dst: Host, timeout: float = 0.3) -> bool:
    """Whether one UDP datagram from `src` reaches `dst` (one way only)."""
    with sock(dst) as srv, sock(src) as cli:
        srv.bind((dst.ip(), 0))
        srv.settimeout(timeout)
        cli.sendto(b"x", srv.getsockname())
        try:
            return srv.recv(4) == b"x"
        except socket.timeout:
            return False


def echo(src: Host, dst: Host, timeout: float = 2.0) -> bool:
    """One UDP round trip src -> dst -> src."""
    with sock(dst) as srv, sock(src) as cli:
        srv.bind((dst.ip(), 0))
        srv.settimeout(timeout)
        cli.settimeout(timeout)
        try:
            cli.sendto(b"ping", srv.getsockname())
            data, addr = srv.recvfrom(8)
            srv.sendto(data, addr)
            return cli.recv(8) == b"ping"
        except socket.timeout:
            return False


def rules(host: Host) -> list[dict]:
    """`ip -j rule` inside the host (IPv4)."""
    with host.enter():
        out = subprocess.run(["ip", "-j", "rule"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def blackholes(host: Host) -> set[tuple[str, str]]:
    return {(r["src"], r["dst"]) for r in rules(host) if r.get("action") == "blackhole"}


@pytest.fixture
def chain(topology: Topology) -> tuple[Host, ...]:
    """a, c on switch sw - r1 - r2 - b: a to b is 3 hops through a switch and two routers."""
    sw = topology.switch("sw")
    a, c, b = topology.host("a"), topology.host("c"), topology.host("b")
    r1, r2 = topology.router("r1"), topology.router("r2")
    for h in (a, c, r1):
        topology.link(h, sw)
    topology.link(r1, r2)
    topology.link(r2, b)
    assert echo(a, b) and echo(c, b) and echo(a, c)
    return a, c, r1, r2, b


def test_partition_across_routers_and_a_switch_is_silent(topology: Topology, chain) -> None:
    a, c, r1, r2, b = chain
    with b.enter():
        listener = socket.create_server((b.ip(), 0))
    with listener:
        topology.partition(a, b)
        assert topology.partitions == {("a", "b"), ("b", "a")}
        assert not arrives(a, b) and not arrives(b, a)
        with sock(a, socket.SOCK_STREAM) as s:
            s.settimeout(0.3)
            with pytest.raises(socket.timeout):  # silence: no RST, no ICMP error
                s.connect(listener.getsockname())
        # everything else flows: a and b reach the routers between them, c reaches both
        assert echo(a, r1) and echo(a, r2) and echo(b, r2) and echo(b, r1)
        assert echo(c, b) and echo(c, a)
        assert blackholes(b) == {(a.ip(), b.ip())}
        assert blackholes(a) == {(b.ip(), a.ip())}
        assert not blackholes(r1) and not blackholes(r2)
        local = [r for r in rules(b) if r.get("table") == "local"]
        assert [r["priority"] for r in local] == [1000]  # moved after the cut rules
        topology.heal(a, b)
        assert topology.partitions == frozenset()
        assert not blackholes(a) and not blackholes(b)
        with sock(a, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(listener.getsockname())


def test_partition_with_a_router_keeps_forwarding(topology: Topology, chain) -> None:
    a, c, r1, r2, b = chain
    topology.partition(a, r1)
    assert not arrives(a, r1) and not arrives(r1, a)
    assert echo(a, b) and echo(a, r2) and echo(c, r1)  # r1 still forwards a's packets
    # every address of the router is cut from a (it has two)
    assert blackholes(r1) == {(a.ip(), ip) for ip in (r1.ip("eth0"), r1.ip("eth1"))}
    topology.heal()
    assert echo(a, r1) and not blackholes(r1)


def test_established_tcp_connection_stalls_and_resumes(topology: Topology, chain) -> None:
    a, _, _, _, b = chain
    with b.enter():
        listener = socket.create_server((b.ip(), 0))
    with listener, sock(a, socket.SOCK_STREAM) as cli:
        cli.connect(listener.getsockname())
        srv, _ = listener.accept()
        with srv:
            srv.settimeout(0.3)
            topology.partition(a, b)
            cli.sendall(b"lost?")
            with pytest.raises(socket.timeout):
                srv.recv(8)
            topology.heal(a, b)
            srv.settimeout(10)  # the retransmission comes after heal
            assert srv.recv(8) == b"lost?"


def test_oneway_drops_only_what_a_sends_to_b(topology: Topology, chain) -> None:
    a, _, _, _, b = chain
    topology.partition(a, b, oneway=True)
    assert topology.partitions == {("a", "b")}
    assert not arrives(a, b)
    assert arrives(b, a)
    assert blackholes(b) == {(a.ip(), b.ip())} and not blackholes(a)
    topology.heal(b, a)  # heal takes the pair in any order
    assert echo(a, b)


def test_groups_cut_off_and_heal_all(topology: Topology) -> None:
    sw = topology.switch("sw")
    hosts = [topology.host(n) for n in "abcd"]
    for h in hosts:
        topology.link(h, sw)
    a, b, c, d = hosts
    topology.partition_groups([a, b], ["c", d])
    cut = {(x, y) for g, o in (("ab", "cd"), ("cd", "ab")) for x in g for y in o}
    assert topology.partitions == cut
    assert echo(a, b) and echo(c, d)
    assert not arrives(a, c) and not arrives(d, b)
    topology.heal()
    assert topology.partitions == frozenset()
    assert echo(a, c) and echo(d, b)
    topology.cut_off(b)
    assert topology.partitions == {(x, y) for x in "acd" for y in "b"} | {
        ("b", y) for y in "acd"
    }
    assert not arrives(a, b) and not arrives(b, d) and echo(a, d)
    topology.heal(b, a)  # only that pair
    assert echo(a, b) and not arrives(b, c)
    topology.heal()
    assert echo(b, c) and all(not blackholes(h) for h in hosts)


def test_cuts_follow_links_added_later(topology: Topology) -> None:
    a, b, r = topology.host("a"), topology.host("b"), topology.router("r")
    topology.partition(a, b)  # no addresses yet: nothing to install, but the cut stands
    assert topology.partitions == {("a", "b"), ("b", "a")}
    topology.link(a, r)
    topology.link(r, b)
    assert not arrives(a, b) and echo(a, r) and echo(b, r)
    assert blackholes(b) == {(a.ip(), b.ip())}
    topology.unlink(a, r)  # a's address goes, and the rule for it
    assert not blackholes(b) and topology.partitions == {("a", "b"), ("b", "a")}
    topology.link(a, r)  # back, on a new link: cut again
    assert not arrives(a, b) and blackholes(b) == {(a.ip(), b.ip())}
    topology.heal()
    assert echo(a, b)


def test_direct_link_cut_and_switch_port_still_work(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    v = topology.link(a, b)
    topology.partition(v)  # a Veth: the link's qdiscs drop everything
    assert v.partitioned and topology.partitions == {("a", "b"), ("b", "a")}
    assert not echo(a, b, timeout=0.2)
    topology.heal(a, b)
    assert not v.partitioned and echo(a, b)


def test_partition_errors(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    sw = topology.switch("sw")
    topology.link(a, sw)
    with pytest.raises(ValueError, match="itself"):
        topology.partition(a, "a")
    with pytest.raises(ValueError, match="not linked directly"):
        topology.partition(b, sw)
    with pytest.raises(ValueError, match="oneway"):
        topology.partition(a, sw, oneway=True)
    with pytest.raises(ValueError, match="two groups"):
        topology.partition_groups([a, b])
    with pytest.raises(ValueError, match="group 0 and group 1"):
        topology.partition_groups([a], [a, b])
    with pytest.raises(ValueError, match="switch"):
        topology.partition_groups([a], [sw])
    with pytest.raises(TypeError, match="list of nodes"):
        topology.partition_groups("a", "b")  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="zz"):
        topology.cut_off("zz")
    with pytest.raises(TypeError):
        topology.heal(None, b)
    assert topology.partitions == frozenset()


@pytest.mark.requires_userns
def test_rootless_partition_inside_a_user_namespace(nobody) -> None:
    out = nobody(
        """
        import socket, pyns
        from pyns.testing import Topology, impairments

        def arrives(src, dst, timeout=0.3):
            with dst.enter():
                srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with src.enter():
                cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with srv, cli:
                srv.bind((dst.ip(), 0)); srv.settimeout(timeout)
                cli.sendto(b"x", srv.getsockname())
                try:
                    return srv.recv(4) == b"x"
                except socket.timeout:
                    return False

        def build():
            with Topology() as t:
                a, r, b = t.host("a"), t.router("r"), t.host("b")
                t.link(a, r); t.link(r, b)
                before = arrives(a, b, 5)
                t.partition(a, b, oneway=True)
                cut = (arrives(a, b), arrives(b, a), arrives(a, r), sorted(t.partitions))
                t.heal()
                refused = True  # no bpf(2) here: loss only with netem, else refused
                if not impairments()["loss_pct"]:
                    try:
                        t.shape(a, r, loss_pct=10, rate_mbit=5)
                        refused = False
                    except pyns.UnsupportedError as e:
                        refused = "sch_netem" in str(e) and not r.links[0].shaped
                return before, cut, arrives(a, b), refused

        print(pyns.run(build, user=True, map_root=True, net=True, uts=True))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(True, (False, True, True, [('a', 'b')]), True, True)"


def test_link_down_reroutes_and_link_up_restores(topology: Topology) -> None:
    from pyns import net

    r1, r2, r3 = (topology.router(n) for n in ("r1", "r2", "r3"))
    a, b = topology.host("a"), topology.host("b")
    topology.link(a, r1)
    topology.link(b, r2)
    direct = topology.link(r1, r2)
    topology.link(r1, r3)
    topology.link(r3, r2)

    def via(router: Host, host: Host) -> str | None:
        subnet = host.links[0].subnet
        return next(r.via for r in net.routes(netns=router.netns) if r.dst == str(subnet))

    assert echo(a, b) and via(r1, b) == r2.ip(r1)
    topology.link_down(r1, r2)
    assert not direct.up
    assert not net.link(direct.ifname(r1), netns=r1.netns).up
    assert not net.link(direct.ifname(r2), netns=r2.netns).up
    assert via(r1, b) == r3.ip(r1)  # around the down link
    assert echo(a, b)
    topology.link_up(direct)
    assert direct.up and via(r1, b) == r2.ip(r1)
    assert echo(a, b)
    topology.link_down(a, r1)  # a's only way out: no route left (unlike a partition)
    with pytest.raises(OSError) as e:
        echo(a, b, timeout=0.3)
    assert e.value.errno == errno.ENETUNREACH
    topology.link_up(a, r1)
    assert echo(a, b)


ECHO_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9000))
while True:
    data, addr = s.recvfrom(64)
    s.sendto(data, addr)
"""


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _wait_state(pid: int, states: str) -> None:
    for _ in range(10_000):
        if _state(pid) in states:
            return
    raise AssertionError(f"{pid} stayed {_state(pid)}, not {states}")


def test_pause_resume_and_kill_the_programs_of_a_host(topology: Topology) -> None:
    import sys

    a, b = topology.host("a"), topology.host("b")
    topology.link(a, b)
    server = b.spawn([sys.executable, "-c", ECHO_SERVER, b.ip()])
    sleeper = b.spawn(["sleep", "60"])
    other = a.spawn(["sleep", "60"])
    assert b.processes == [server, sleeper] and a.processes == [other]
    with sock(a) as cli:
        cli.settimeout(0.2)
        for _ in range(100):  # until the server listens
            cli.sendto(b"hello", (b.ip(), 9000))
            try:
                assert cli.recv(64) == b"hello"
                break
            except socket.timeout:
                continue
        b.pause()
        for p in (server, sleeper):
            _wait_state(p.pid, "T")
        assert _state(other.pid) in "SR"
        cli.sendto(b"paused", (b.ip(), 9000))
        with pytest.raises(socket.timeout):
            cli.recv(64)
        b.resume()
        cli.settimeout(10)
        assert cli.recv(64) == b"paused"  # queued while paused, answered after
    b.pause()
    b.kill()  # SIGKILL also ends paused programs, and waits for them
    assert b.processes == [] and server.returncode == -9 and sleeper.returncode == -9
    assert a.processes == [other]
    a.kill(sig=15)
    assert other.wait() == -15


def _wait_events(n, count: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while len(n.timeline) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(n.timeline) >= count, n.timeline


def test_nemesis_is_seeded_and_heals_everything(topology: Topology) -> None:
    sw = topology.switch("sw")
    hosts = [topology.host(n) for n in "abcd"]
    for h in hosts:
        topology.link(h, sw)
        h.spawn(["sleep", "60"])
    runs = []
    for _ in range(2):
        with topology.nemesis(seed=7, interval_s=0.02) as n:
            _wait_events(n, 12)
        assert topology.partitions == frozenset()
        assert all(v.up and not v.shaped for v in topology.links)
        assert all(_state(p.pid) in "SR" for h in hosts for p in h.processes)
        events = [(fault, names) for _, fault, names in n.timeline]
        assert events[1::2] == [("heal", names) for _, names in events[0::2]]  # strict turns
        assert events[-1][0] == "heal"
        runs.append(events[0::2])
    k = min(len(r) for r in runs)
    assert runs[0][:k] == runs[1][:k]  # the same seed, the same faults
    assert {f for f, _ in runs[0]} <= {"partition", "oneway", "pause", "link", "loss"}
    assert all(echo(x, y) for x in hosts for y in hosts if x is not y)


def test_nemesis_heals_after_an_exception(topology: Topology) -> None:
    a, b = topology.host("a"), topology.host("b")
    topology.link(a, b)
    with pytest.raises(RuntimeError, match="workload"):
        with topology.nemesis(seed=1, faults=("oneway",), interval_s=60) as n:
            _wait_events(n, 1)
            assert len(topology.partitions) == 1
            raise RuntimeError("workload failed")
    assert topology.partitions == frozenset() and echo(a, b)
    assert [e[1] for e in n.timeline] == ["oneway", "heal"]
    with pytest.raises(ValueError, match="faults"):
        topology.nemesis(faults=("meteor",))
    with pytest.raises(TypeError, match="seed"):
        topology.nemesis(seed="7")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval_s"):
        topology.nemesis(interval_s=0)


def test_unlink_and_remove_while_programs_run(topology: Topology) -> None:
    from pyns import net

    r1, r2, r3 = (topology.router(n) for n in ("r1", "r2", "r3"))
    a, b = topology.host("a"), topology.host("b")
    topology.link(a, r1)
    topology.link(b, r2)
    topology.link(r1, r2)
    topology.link(r1, r3)
    topology.link(r3, r2)
    server = b.spawn(["sleep", "60"])
    subnet = b.links[0].subnet

    def via(router: Host) -> str:
        return next(r.via for r in net.routes(netns=router.netns) if r.dst == str(subnet))

    assert via(r1) == r2.ip(r1)
    topology.unlink(r1, r2)
    assert [lk.name for lk in net.links(netns=r1.netns)] == ["lo", "eth0", "eth2"]
    assert r1.interfaces == ["eth0", "eth2"] and len(topology.links) == 4
    assert via(r1) == r3.ip(r1) and echo(a, b)
    v = topology.link(r1, r2)  # the freed name and subnet come back
    assert v.ifname(r1) == "eth1" and via(r1) == r2.ip(r1) and echo(a, b)
    topology.remove("r3")
    assert "r3" not in [h.name for h in topology.hosts]
    assert [lk.name for lk in net.links(netns=r1.netns)] == ["lo", "eth0", "eth1"]
    assert echo(a, b)
    topology.partition(a, b)
    topology.remove(b)
    assert server.returncode == -9 and topology.partitions == frozenset()
    assert not blackholes(a) and echo(a, r2)
    with pytest.raises(LookupError):
        topology.remove("b")


def test_linked_switches_are_one_segment(topology: Topology) -> None:
    s1, s2, s3 = topology.switch("s1"), topology.switch("s2"), topology.switch("s3")
    first = s1.subnet
    topology.link(s1, s2)
    topology.link(s2, s3)  # s3 joins the segment and gives its own subnet back
    assert s1.subnet == s2.subnet == s3.subnet == first
    a, b, c = topology.host("a"), topology.host("b"), topology.host("c")
    topology.link(a, s1)
    topology.link(b, s2)
    topology.link(s3, c)
    assert [h.ip() for h in (a, b, c)] == [str(first.network_address + i) for i in (1, 2, 3)]
    assert echo(a, b) and echo(a, c) and echo(c, b)
    assert s2.hosts == [b]
    with pytest.raises(ValueError, match="loop"):
        topology.link(s1, s3)
    s4, d = topology.switch("s4"), topology.host("d")
    topology.link(d, s4)
    with pytest.raises(ValueError, match="before linking hosts"):
        topology.link(s1, s4)
    topology.unlink(s2, s3)  # the cable pulled: c is cut off, a and b still talk
    assert not echo(a, c, timeout=0.3) and echo(a, b)
    topology.partition(s1, s2)  # a link between switches can be cut like any other
    assert not echo(a, b, timeout=0.3)
    topology.heal()
    assert echo(a, b)


def test_jepsen_grudges_applied_as_oneway_cuts(topology: Topology) -> None:
    from pyns.testing.faults import majorities_ring

    sw = topology.switch("sw")
    hosts = {n: topology.host(n) for n in ("n1", "n2", "n3", "n4", "n5")}
    for h in hosts.values():
        topology.link(h, sw)
    grudges = majorities_ring(hosts, 3)
    for sender, receiver in grudges:
        topology.partition(sender, receiver, oneway=True)
    assert topology.partitions == grudges
    for s in hosts:
        for r in hosts:
            if s != r:
                cut = (s, r) in grudges  # a datagram that arrives needs no long wait
                assert arrives(hosts[s], hosts[r], timeout=0.2 if cut else 2.0) == (not cut)
    topology.heal()
    assert topology.partitions == frozenset()


def _received(src: Host, dst: Host, count: int) -> int:
    """Sends `count` numbered datagrams from src to dst in bursts of 100, each drained
    before the next (so that no queue overflows); returns how many distinct ones arrived."""
    seen = set()
    with sock(dst) as srv, sock(src) as cli:
        srv.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
        srv.bind((dst.ip(), 0))
        srv.settimeout(0.1)
        for start in range(0, count, 100):
            for i in range(start, min(count, start + 100)):
                cli.sendto(b"%d" % i, srv.getsockname())
            try:
                while True:
                    seen.add(int(srv.recv(16)))
            except socket.timeout:
                pass
    return len(seen)


def test_loss_on_any_kernel_is_binomial(topology: Topology) -> None:
    from pyns.testing import impairments

    support = impairments()
    assert set(support) == {
        "delay_ms", "jitter_ms", "distribution", "loss_pct", "loss_correlation_pct",
        "duplicate_pct", "reorder_pct", "corrupt_pct", "limit", "rate_mbit",
    }
    assert support["loss_pct"] and support["rate_mbit"]  # netem, or bpf(2) as root
    a, b = topology.host("a"), topology.host("b")
    topology.link(a, b)
    # Neighbours known first: the loss drops ARP requests too, and a lost one stalls a's
    # queue for a second (as with netem).
    assert echo(a, b)
    topology.shape(a, b, loss_pct=30, oneway=True)
    got = _received(a, b, 1000)
    # Binomial(1000, 0.7): mean 700, sd 14.5; 5 sd either side.
    assert 628 <= got <= 772, got
    assert _received(b, a, 300) == 300  # one way only
    if not support["delay_ms"]:  # the bpf classifier, as tc sees it
        with a.enter():
            out = subprocess.run(["tc", "-j", "filter", "show", "dev", "eth0", "egress"],
                                 capture_output=True, text=True, check=True)  # fmt: skip
        bpf = [f for f in json.loads(out.stdout) if f.get("kind") == "bpf" and "options" in f]
        assert bpf and bpf[0]["options"]["bpf_name"].startswith("pyns_loss")
        assert bpf[0]["options"].get("direct-action") or "da" in out.stdout
    topology.unshape(a, b)
    assert _received(a, b, 300) == 300


def test_shape_without_netem_refuses_delay_before_changing_anything(topology: Topology) -> None:
    import pyns
    from pyns.testing import impairments

    if impairments()["delay_ms"]:
        pytest.skip("this kernel has netem")
    a, b = topology.host("a"), topology.host("b")
    v = topology.link(a, b)
    topology.shape(a, b, rate_mbit=50)
    with pytest.raises(pyns.UnsupportedError) as e:
        topology.shape(a, b, delay_ms=10, rate_mbit=10)
    for part in ("sch_netem", "modprobe sch_netem", "linux-image"):
        assert part in str(e.value)
    assert v._shape is not None and v._shape["rate_mbit"] == 50 and v._shape["delay_ms"] is None
    with pytest.raises(ValueError, match="loss_pct"):
        topology.shape(a, b, loss_pct=150, rate_mbit=1)
    assert v._shape["rate_mbit"] == 50
