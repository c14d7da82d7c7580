"""Topology.ping, reachability and assert_reachable: in-process ICMP from raw sockets born in
each host, checked against real partitions and against iputils' ping."""

from __future__ import annotations

import shutil

import pytest

from pyns.testing import Host, Topology

pytestmark = pytest.mark.requires_root

#: The largest round trip these tests allow before a reply counts as lost: generous, so a
#: busy machine never turns a reachable pair into an unreachable one.
PATIENT_S = 10.0


def system_ping(src: Host, dst: Host, wait_s: float) -> bool:
    """What iputils' ping says: one echo request to `dst`'s first address, `wait_s` to answer."""
    r = src.exec(["ping", "-n", "-c", "1", "-W", str(wait_s), dst.ip()], check=False)
    return r.returncode == 0


def line() -> tuple[Topology, Host, Host, Host]:
    """a - b - c, no router: a and c do not reach each other."""
    t = Topology()
    a, b, c = t.host("a"), t.host("b"), t.host("c")
    t.link(a, b)
    t.link(b, c)
    return t, a, b, c


def test_reachability_covers_every_ordered_pair_of_hosts() -> None:
    t, a, b, c = line()
    with t:
        got = t.reachability(timeout=2.0)
        assert got == {
            ("a", "b"): True,
            ("a", "c"): False,
            ("b", "a"): True,
            ("b", "c"): True,
            ("c", "a"): False,
            ("c", "b"): True,
        }
        assert t.ping(a, b, timeout=PATIENT_S) and t.ping("c", "b", timeout=PATIENT_S)
        assert not t.ping(a, c, timeout=0.3)


def test_probes_work_when_the_process_has_fds_above_1023() -> None:
    """A big topology gives the test process fds above 1023, which select(2) cannot watch."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1100:
        pytest.skip(f"the hard fd limit ({hard}) is below 1100")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    filler = []
    try:
        while not filler or filler[-1] < 1030:
            filler.append(os.open("/dev/null", os.O_RDONLY))
        t, a, b, _ = line()
        with t:
            assert t.ping(a, b, timeout=PATIENT_S)
            assert t.ping(b, a, timeout=PATIENT_S)
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_routers_and_switches_are_not_in_reachability_but_route() -> None:
    with Topology() as t:
        a, r, b = t.host("a"), t.router("r"), t.host("b")
        sw = t.switch("sw")
        c = t.host("c")
        t.link(a, r)
        t.link(r, b)
        t.link(r, sw)
        t.link(c, sw)
        got = t.reachability(timeout=PATIENT_S)
        assert set(got) == {(x, y) for x in "abc" for y in "abc" if x != y}
        assert all(got.values()), got
        assert t.ping(a, r, timeout=PATIENT_S)  # a router can be pinged by name
        with pytest.raises(TypeError, match="switch 'sw'"):
            t.ping(a, sw)


def test_partition_and_heal_show_in_reachability() -> None:
    with Topology() as t:
        a, r, b, c = t.host("a"), t.router("r"), t.host("b"), t.host("c")
        for h in (a, b, c):
            t.link(h, r)
        t.assert_reachable({k: True for k in t.reachability(timeout=PATIENT_S)})
        t.partition(a, b)
        expected = {
            ("a", "b"): False,
            ("b", "a"): False,
            ("a", "c"): True,
            ("c", "a"): True,
            ("b", "c"): True,
            ("c", "b"): True,
        }
        assert t.reachability(timeout=2.0) == expected
        t.assert_reachable(expected, timeout=2.0)
        t.heal()
        t.assert_reachable({k: True for k in expected}, timeout=PATIENT_S)


def test_ping_agrees_with_iputils_ping() -> None:
    if shutil.which("ping") is None:
        pytest.skip("iputils' ping is not installed (apt-get install iputils-ping)")
    with Topology() as t:
        a, r, b, c = t.host("a"), t.router("r"), t.host("b"), t.host("c")
        for h in (a, b, c):
            t.link(h, r)
        lone = t.host("lone")
        t.link(lone, t.host("other"))
        t.partition(a, c)
        pairs = {(a, b): True, (b, a): True, (a, c): False, (c, b): True, (a, lone): False,
                 (lone, a): False}  # fmt: skip
        # Patient where an answer is expected (both return at the first reply), short where not.
        ours = {(x, y): t.ping(x, y, timeout=PATIENT_S if want else 1.0)
                for (x, y), want in pairs.items()}  # fmt: skip
        theirs = {(x, y): system_ping(x, y, PATIENT_S if want else 1.0)
                  for (x, y), want in pairs.items()}  # fmt: skip
        assert ours == theirs == pairs


def test_ipv6_addresses_are_pinged_too() -> None:
    with Topology() as t:
        a, b, c = t.host("a"), t.host("b"), t.host("c")
        t.link(a, b, addresses=("fd00:1::1/64", "fd00:1::2/64"))  # IPv6 only
        t.link(b, c)
        assert b.addresses == ["fd00:1::2/64", "10.0.0.1/24", "fd00::1/64"]  # b-c: dual stack
        # DAD keeps a new IPv6 address tentative for a moment; the requests are repeated.
        assert t.ping(a, b, timeout=PATIENT_S)
        assert t.ping(b, a, timeout=PATIENT_S)
        assert not t.ping(a, c, timeout=0.3)  # a: no IPv4 address, no route to c's IPv6 /64


def test_a_host_without_addresses_is_unreachable() -> None:
    with Topology() as t:
        a = t.host("a")
        t.host("b")
        assert t.reachability(timeout=0.2) == {("a", "b"): False, ("b", "a"): False}
        assert not t.ping(a, "b", timeout=0.2)


def test_assert_reachable_prints_a_table_of_what_differs() -> None:
    t, a, b, c = line()
    with t:
        with pytest.raises(AssertionError) as e:
            t.assert_reachable({("a", "b"): True, ("a", "c"): True, (b, a): False}, timeout=2.0)
        text = str(e.value)
        assert text.startswith("2 of 3 pairs differ from the expected reachability")
        rows = [r.split() for r in text.splitlines()[1:]]
        assert rows == [
            ["source", "destination", "expected", "actual"],
            ["a", "c", "reachable", "unreachable"],
            ["b", "a", "unreachable", "reachable"],
        ]


def test_bad_arguments() -> None:
    t, a, b, c = line()
    with t:
        with pytest.raises(LookupError, match="'zz'"):
            t.ping(a, "zz")
        with pytest.raises(ValueError, match="timeout"):
            t.ping(a, b, timeout=0)
        with pytest.raises(TypeError, match="timeout"):
            t.reachability(timeout="1")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="bool"):
            t.assert_reachable({("a", "b"): 1})  # type: ignore[dict-item]
        with pytest.raises(TypeError, match="source, destination"):
            t.assert_reachable({"ab": True})  # type: ignore[dict-item]
        with Topology() as other:
            x = other.host("x")
            with pytest.raises(ValueError, match="another topology"):
                t.ping(a, x)
    with pytest.raises(ValueError, match="closed"):
        t.reachability()


@pytest.mark.requires_userns
def test_rootless_reachability_inside_a_user_namespace(nobody) -> None:
    out = nobody(
        """
        import os, pyns
        from pyns.testing import Topology

        def build():
            with Topology() as t:
                a, r, b, c = t.host("a"), t.router("r"), t.host("b"), t.host("c")
                for h in (a, b, c):
                    t.link(h, r)
                before = all(t.reachability(timeout=10).values())
                t.partition(a, b)
                after = sorted(k for k, v in t.reachability(timeout=1).items() if not v)
                return before, after, os.getuid()

        print(pyns.run(build, user=True, map_root=True, net=True, uts=True))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(True, [('a', 'b'), ('b', 'a')], 0)"


def test_without_cap_net_raw_the_error_names_it(nobody) -> None:
    out = nobody(
        """
        import socket, pyns
        try:
            pyns._native.net_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError as e:
            print(e.errno, "CAP_NET_RAW" in e.hint, e.step)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "1 True socket(2, 3, 1)\n"
