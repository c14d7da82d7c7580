"""Big topologies: file descriptors (RLIMIT_NOFILE) and tearing thousands of namespaces down.

The limits are changed in a child Python, never in the test session.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import pyns
from pyns import _native, net
from pyns.testing import Topology

pytestmark = pytest.mark.requires_root


def run_python(code: str) -> str:
    """Runs `code` in a child Python; returns its stdout (fails the test on a non-zero exit)."""
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_a_short_soft_limit_is_raised_to_the_hard_one():
    out = run_python(
        """
        import resource
        from pyns.testing import Topology

        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))
        with Topology() as t:  # a small one leaves the limit alone
            t.link(t.host("a"), t.host("b"))
            print(resource.getrlimit(resource.RLIMIT_NOFILE))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 4096))
        with Topology() as t:  # 40 hosts hold 80 fds: more than 64
            hosts = [t.host(f"h{i}") for i in range(40)]
            for a, b in zip(hosts, hosts[1:]):
                t.link(a, b)
            print(len(t.hosts), resource.getrlimit(resource.RLIMIT_NOFILE))
        """
    )
    assert out.split("\n")[:2] == ["(1024, 4096)", "40 (4096, 4096)"]


def test_a_short_hard_limit_is_refused_before_the_node_is_made():
    out = run_python(
        """
        import errno, json, os, resource
        from pyns.testing import Topology

        def fds():
            return len(os.listdir("/proc/self/fd"))

        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 100))
        with Topology() as t:  # opens what pyns keeps for the thread (a pidfd)
            t.host("warm-up")
        before = fds()
        t = Topology()
        try:
            for i in range(100):
                t.host(f"h{i}")
        except OSError as e:
            assert e.errno == errno.EMFILE, e
            assert e.step.startswith("make room for the file descriptors"), e.step
            assert "ulimit -n" in e.hint and "ulimit -n" in str(e), e
            assert "RLIMIT_NOFILE allows 100" in str(e), e
            made = len(t.hosts)
            assert f"this topology of {made + 1} nodes needs up to" in str(e), e
            assert any("pyns was doing" in n for n in e.__notes__)
            held = fds() - before  # only by the hosts made: nothing of the refused one
        t.close()
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)
        print(json.dumps([made, held, fds() - before, limit]))
        """
    )
    made, held, left, limit = json.loads(out)
    # each host holds its network and mount namespaces and a netlink socket inside (few
    # hosts: kept); the topology, the memfd that `pyns topology ls` reads and the procfs
    # instance its nodes' sysctls are written through
    assert 10 < made < 50 and held == 3 * made + 2 and left == 0 and limit == [100, 100]


def test_closing_a_big_topology_releases_everything():
    """A 300-host chain and a 50-host switch: close() leaves no descriptor, and the kernel
    then removes the namespaces (links into them from a probe namespace vanish)."""
    probe = _native.net_node(None, False, False)[0]
    before = set(os.listdir("/proc/self/fd"))
    t = Topology()
    hosts = [t.host(f"h{i}") for i in range(300)]
    for a, b in zip(hosts, hosts[1:]):
        t.link(a, b)
    sw = t.switch("sw")
    for i in range(50):
        t.link(t.host(f"s{i}"), sw)
    ends = [hosts[0], hosts[-1], t["s49"], sw]
    handles = [ns for n in (*t.hosts, *t.switches) for ns in n.namespaces.values()]
    with probe:
        for i, n in enumerate(ends):
            net.veth(f"probe{i}", f"p{i}", netns=n.netns, peer_netns=probe)
        t.close()
        assert t.closed and all(ns.closed for ns in handles)
        assert set(os.listdir("/proc/self/fd")) <= before
        deadline = time.monotonic() + 120
        while len(net.links(netns=probe)) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the kernel's clean-up worker, asynchronous
        assert [link.name for link in net.links(netns=probe)] == ["lo"]


def test_an_idle_host_holds_one_descriptor_and_makes_its_uts_namespace_when_used():
    """10,000 hosts fit in 20,000 descriptors: a host's UTS namespace waits until something
    runs there, and netlink sockets are kept for a few hundred nodes only (hosts without
    their own mount namespace and /etc, which would hold one descriptor more each)."""
    before = len(os.listdir("/proc/self/fd"))
    with Topology() as t:
        hosts = [t.host(f"h{i}", mnt=False) for i in range(600)]
        held = len(os.listdir("/proc/self/fd")) - before
        # one per host, MAX_CACHED sockets at most, the memfd, the procfs instance
        assert held <= 600 + 256 + 2
        h = hosts[-1]
        assert set(h.namespaces) == {"net", "uts"}
        assert h.run(socket.gethostname, timeout=30) == "h599"
        assert h.namespaces["uts"].inode != pyns.Namespace.current("uts").inode
        p = hosts[1].spawn(["hostname"], stdout=subprocess.PIPE)
        assert p.communicate(timeout=30)[0] == b"h1\n"
    assert set(hosts[0].namespaces) == {"net"} and hosts[0].netns.closed
    assert hosts[-1].namespaces["uts"].closed


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _read_in(ns: pyns.Namespace, path: str) -> str:
    with ns.enter():
        return _read(path)


def test_every_node_gets_its_ipv6_settings_past_a_procfs_instances_turn():
    """Nodes' sysctls are written through a procfs instance of pyns' own, replaced every 64
    namespaces (a walk of /proc/sys costs O(namespaces)): 70 hosts all get theirs, in their
    own namespace, and the caller's stay as they were."""
    knobs = {
        "/proc/sys/net/ipv6/conf/default/accept_dad": "0",
        "/proc/sys/net/ipv6/conf/all/keep_addr_on_down": "1",
        "/proc/sys/net/ipv6/conf/default/router_solicitations": "0",
    }
    mine = {k: _read(k) for k in knobs}
    with Topology() as t:
        hosts = [t.host(f"h{i}", mnt=False) for i in range(70)]
        r = t.router("r")
        for h in hosts:
            assert {k: _read_in(h.netns, k) for k in knobs} == knobs, h.name
        assert _read_in(r.netns, "/proc/sys/net/ipv4/ip_forward") == "1"
        assert _read_in(hosts[-1].netns, "/proc/sys/net/ipv4/ip_forward") == "0"
    assert {k: _read(k) for k in knobs} == mine


def _mld_reports_of_others() -> tuple[bool, list[object]]:
    """A switch with hosts a, b, c: whether b pings c over IPv6 (iputils' ping -6), and the MLD
    reports of b and c that reach a (captured while they are linked). Also sent as source to
    uid 65534."""
    from pyns import net
    from pyns.testing import Topology

    with Topology() as t:
        sw = t.switch("sw")
        a, b, c = (t.host(n) for n in "abc")
        t.link(a, sw)
        with t.capture(a) as cap:
            t.link(b, sw)
            t.link(c, sw)
            ping6 = ["ping", "-6", "-c", "1", "-W", "10", c.ip(family=6)]
            ok = b.exec(ping6, check=False).returncode == 0
        others = {
            x.address for h in (b, c) for x in net.addrs(netns=h.netns) if x.family == "inet6"
        }
        return ok, [p for p in cap.packets if "listener report" in p.info and p.src in others]


def test_a_switch_floods_no_mld_reports_and_ipv6_still_works():
    """Each host's MLD reports reach the switch and stop there (an nf_tables table of the
    switch drops them; flooded to every port they made a star of n hosts cost O(n²)); IPv6
    neighbour discovery across the switch still works."""
    import shutil

    if shutil.which("nft") is None:
        pytest.skip("needs nft (apt-get install nftables; tests/run.sh installs it)")
    assert _mld_reports_of_others() == (True, [])
    with Topology() as t:
        sw = t.switch("sw")
        with sw.netns.enter():
            ruleset = subprocess.run(
                ["nft", "list", "ruleset"], capture_output=True, text=True, check=True
            ).stdout
        assert "table bridge pyns" in ruleset and "mld2-listener-report drop" in ruleset


@pytest.mark.requires_userns
def test_a_rootless_switch_floods_no_mld_reports_either(nobody):
    """As uid 65534, in a user namespace: the switch's table is made from inside the switch's
    namespace as it is created (the caller's thread could not go there and back)."""
    import inspect

    # The function's source, not an import: uid 65534 may not read the checkout.
    out = nobody(
        "import pyns\n"
        + inspect.getsource(_mld_reports_of_others)
        + "print(pyns.run(_mld_reports_of_others, user=True, map_root=True, net=True, uts=True))\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(True, [])"
