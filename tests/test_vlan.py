"""pyns.net.vlan: 802.1Q VLANs as a link kind. Arguments are checked on any kernel; traffic
across VLANs needs the kernel's 8021q (the kernel lane runs it on Debian's 6.1), and a kernel
without it gets an UnsupportedError that names the module."""

from __future__ import annotations

import json
import socket
import subprocess
from typing import Callable

import pytest

import pyns
from pyns import net

NsFactory = Callable[[], pyns.Namespace]


def vlan_or_skip(name: str, link: str, vid: int, ns: pyns.Namespace) -> pyns.net.Link:
    try:
        return net.vlan(name, link, vid, netns=ns)
    except pyns.UnsupportedError as e:
        pytest.skip(f"8021q not available on this kernel: {e}")


def udp_round_trip(src: pyns.Namespace, dst: pyns.Namespace, addr: str) -> bool:
    """One UDP datagram from `src` to `addr` in `dst` and back; False when none arrives."""
    with dst.enter():
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with src.enter():
        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with srv, cli:
        srv.bind((addr, 0))
        srv.settimeout(3)
        cli.settimeout(3)
        cli.sendto(b"tagged", srv.getsockname())
        try:
            data, peer = srv.recvfrom(64)
            srv.sendto(data, peer)
            return cli.recvfrom(64)[0] == b"tagged"
        except socket.timeout:
            return False


@pytest.mark.parametrize(
    ("args", "exc", "words"),
    [
        (("v0", "eth0", 0), ValueError, "1 to 4094"),
        (("v0", "eth0", 4095), ValueError, "1 to 4094"),
        (("v0", "eth0", -5), ValueError, "1 to 4094"),
        (("v0", "eth0", "10"), TypeError, "vid must be an int"),
        (("v0", "eth0", True), TypeError, "vid must be an int"),
        (("bad/name", "eth0", 10), ValueError, "name"),
        (("v0", "x" * 16, 10), ValueError, "link"),
    ],
)
def test_bad_arguments_before_any_request(make_netns: NsFactory, args, exc, words) -> None:
    ns = make_netns()
    with pytest.raises(exc, match=words):
        net.vlan(*args, netns=ns)
    assert [link.name for link in net.links(netns=ns)] == ["lo"]


@pytest.mark.kernel
def test_a_missing_parent_is_a_lookup_error(make_netns: NsFactory) -> None:
    with pytest.raises(LookupError, match="nope"):
        net.vlan("v0", "nope", 10, netns=make_netns())


@pytest.mark.kernel
def test_traffic_across_vlans_over_a_veth(make_netns: NsFactory) -> None:
    a, b = make_netns(), make_netns()
    net.veth("t0", "t1", netns=a, peer_netns=b)
    v = vlan_or_skip("t0.10", "t0", 10, a)
    assert (v.name, v.kind, v.up) == ("t0.10", "vlan", False)
    net.vlan("t0.20", "t0", 20, netns=a)
    net.vlan("t1.10", "t1", 10, netns=b)
    net.vlan("t1.30", "t1", 30, netns=b)
    for ns, end in ((a, "t0"), (b, "t1")):
        net.set_link(end, up=True, netns=ns)
    plan = [(a, "t0.10", "10.10.0.1/24"), (b, "t1.10", "10.10.0.2/24"),
            (a, "t0.20", "10.20.0.1/24"), (b, "t1.30", "10.20.0.2/24")]  # fmt: skip
    for ns, link, cidr in plan:
        net.add_addr(link, cidr, netns=ns)
        net.set_link(link, up=True, netns=ns)

    assert udp_round_trip(a, b, "10.10.0.2")  # both ends tag with vid 10
    assert not udp_round_trip(a, b, "10.20.0.2")  # 20 and 30: same subnet, different VLANs
    with a.enter():
        shown = json.loads(
            subprocess.run(["ip", "-d", "-j", "link", "show", "t0.20"],
                           capture_output=True, text=True, check=True).stdout
        )[0]  # fmt: skip
    assert shown["link"] == "t0"
    assert shown["linkinfo"]["info_kind"] == "vlan"
    assert shown["linkinfo"]["info_data"]["id"] == 20
    assert shown["linkinfo"]["info_data"]["protocol"] == "802.1Q"


@pytest.mark.kernel
def test_without_8021q_the_error_names_the_module(make_netns: NsFactory) -> None:
    ns = make_netns()
    net.bridge("br0", netns=ns)
    try:
        net.vlan("br0.5", "br0", 5, netns=ns)
    except pyns.UnsupportedError as e:
        assert "8021q" in str(e) and "modprobe 8021q" in str(e)
        assert e.hint == "modprobe 8021q"  # type: ignore[attr-defined]
        assert [link.name for link in net.links(netns=ns)] == ["lo", "br0"]
    else:
        pytest.skip("this kernel has 8021q: nothing to refuse")
