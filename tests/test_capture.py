"""Packet capture in-process (``Topology.capture``): the pcapng file is checked against the real
readers, ``tcpdump -r`` and ``tshark -r`` (Debian's packages, installed by tests/run.sh), and
``cap.packets`` against them; rootless inside a user namespace, also as uid 65534.

Traffic only flows between namespaces made here; sockets are made inside a host (`enter()`)
and then used from this thread: a socket stays in the network namespace it was made in.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess

import pytest

import pyns
from pyns.testing import Host, Topology
from pyns.testing.capture import Capture
from pyns.testing.packets import LINKTYPE_ETHERNET, Packet, read, summarise

needs_readers = pytest.mark.skipif(
    not (shutil.which("tcpdump") and shutil.which("tshark")),
    reason="tcpdump and tshark are needed (tests/run.sh installs them)",
)


def tcpdump(path: str, *filter: str) -> list[str]:
    out = subprocess.run(
        ["tcpdump", "-r", path, "-nn", *filter], capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def tshark(path: str, display_filter: str, *fields: str) -> list[tuple[str, ...]]:
    args = ["tshark", "-r", path, "-Y", display_filter, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return [tuple(line.split("\t")) for line in out.stdout.splitlines()]


def ping(src: Host, dst: Host, count: int) -> None:
    p = src.spawn(["ping", "-n", "-q", "-c", str(count), "-i", "0.01", dst.ip()],
                  stdout=subprocess.DEVNULL)
    assert p.wait() == 0


def udp(src: Host, dst: Host, count: int, port: int = 9999) -> None:
    """`count` datagrams from src to dst, each received there."""
    with dst.enter():
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with src.enter():
        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with srv, cli:
        srv.bind((dst.ip(), port))
        srv.settimeout(10)
        for i in range(count):
            cli.sendto(b"x%d" % i, (dst.ip(), port))
            srv.recv(100)


# ---------------------------------------------------------------- the parser, no privileges


def eth(etype: int, payload: bytes) -> bytes:
    return bytes.fromhex("020000000002" "020000000001") + struct.pack("!H", etype) + payload


def ipv4(proto: int, body: bytes) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0,
                      bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return hdr + body


def test_summaries_like_tcpdump_short_lines() -> None:
    syn = struct.pack("!HHIIBBHHH", 40112, 80, 7, 0, 5 << 4, 0x02, 64240, 0, 0)
    udp_ = struct.pack("!HHHH", 5353, 53, 8 + 3, 0) + b"abc"
    echo = struct.pack("!BBHHH", 8, 0, 0, 1, 3) + b"data"
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x02" * 6, bytes([10, 0, 0, 1]),
                      b"\0" * 6, bytes([10, 0, 0, 2]))
    ns = struct.pack("!BBHI16s", 135, 0, 0, 0, socket.inet_pton(socket.AF_INET6, "fe80::2"))
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(ns), 58, 255,
                      socket.inet_pton(socket.AF_INET6, "fe80::1"),
                      socket.inet_pton(socket.AF_INET6, "ff02::1:ff00:2")) + ns
    got = [
        summarise(f, LINKTYPE_ETHERNET, 1.5, "eth0", len(f))[2:]
        for f in (eth(0x0800, ipv4(6, syn)), eth(0x0800, ipv4(17, udp_)),
                  eth(0x0800, ipv4(1, echo)), eth(0x0806, arp), eth(0x86DD, ip6),
                  eth(0x88CC, b"lldp"), eth(0x0800, b"\x45"))
    ]
    assert got == [
        ("10.0.0.1", "10.0.0.2", "TCP", 54, "40112 > 80 [S] seq 7 win 64240 len 0"),
        ("10.0.0.1", "10.0.0.2", "UDP", 45, "5353 > 53 len 3"),
        ("10.0.0.1", "10.0.0.2", "ICMP", 46, "echo request id 1 seq 3"),
        ("10.0.0.1", "10.0.0.2", "ARP", 42, "who-has 10.0.0.2 tell 10.0.0.1"),
        ("fe80::1", "ff02::1:ff00:2", "ICMPv6", 78, "neighbor solicitation fe80::2"),
        ("02:00:00:00:00:01", "02:00:00:00:00:02", "0x88cc", 18, "4 bytes"),
        ("", "", "?", 15, "truncated"),
    ]


def test_reading_a_file_that_is_not_a_capture_is_a_value_error(tmp_path) -> None:
    (tmp_path / "x").write_bytes(b"not a capture file at all")
    with pytest.raises(ValueError, match="pcap"):
        read(tmp_path / "x")


# ---------------------------------------------------------------- against the real readers


@pytest.mark.requires_root
@needs_readers
def test_pings_of_a_node_read_back_by_tcpdump_and_tshark(tmp_path) -> None:
    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b)
        with t.capture(a) as cap:
            assert cap.running
            ping(a, b, 3)
        assert not cap.running and cap.dropped == 0
        assert os.path.dirname(cap.path) == t.directory
        path = shutil.copy(cap.path, tmp_path / "a.pcapng")
        packets = cap.packets
    echoes = [(p.src, p.dst, p.info.split(" id ")[0]) for p in packets if p.proto == "ICMP"]
    assert echoes == [("10.0.0.1", "10.0.0.2", "echo request"),
                      ("10.0.0.2", "10.0.0.1", "echo reply")] * 3
    assert [p.info.rsplit(" ", 1)[1] for p in packets if p.proto == "ICMP"] == [
        "1", "1", "2", "2", "3", "3"]
    assert {p.interface for p in packets} == {"eth0"}
    assert all(p.length == 98 for p in packets if p.proto == "ICMP")
    assert cap.captured == len(packets)

    lines = tcpdump(str(path), "icmp")
    assert len(lines) == 6
    assert sum("10.0.0.1 > 10.0.0.2: ICMP echo request" in x for x in lines) == 3
    assert len(tcpdump(str(path))) == len(packets)

    rows = tshark(str(path), "icmp", "frame.interface_name", "ip.src", "ip.dst", "icmp.type",
                  "frame.len")
    assert rows == [("eth0", p.src, p.dst, "8" if "request" in p.info else "0", "98")
                    for p in packets if p.proto == "ICMP"]
    assert len(tshark(str(path), "frame", "frame.number")) == len(packets)


@pytest.mark.requires_root
@needs_readers
def test_a_tcp_exchange_on_a_link_seen_both_ways(tmp_path) -> None:
    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        v = t.link(a, b)
        path = str(tmp_path / "ab.pcapng")
        with t.capture(v, path=path) as cap:
            with b.enter():
                srv = socket.create_server((b.ip(), 8080))
            with a.enter():
                cli = socket.create_connection((b.ip(), 8080), timeout=10)
            with srv, cli:
                conn, _ = srv.accept()
                with conn:
                    cli.sendall(b"hello")
                    assert conn.recv(5) == b"hello"
                    conn.sendall(b"world!")
                    assert cli.recv(6) == b"world!"
                    cli.shutdown(socket.SHUT_WR)
                    assert conn.recv(1) == b""
        assert cap.path == path
        tcp = [p for p in cap.packets if p.proto == "TCP"]
    assert {p.interface for p in tcp} == {v.names[0]}
    syn, synack = tcp[0], tcp[1]
    assert (syn.src, syn.dst) == ("10.0.0.1", "10.0.0.2")
    assert syn.info.startswith(syn.info.split(" > ")[0] + " > 8080 [S] ")
    assert synack.info.startswith("8080 > ") and "[S.]" in synack.info
    assert any(p.src == "10.0.0.1" and p.info.endswith("len 5") for p in tcp)
    assert any(p.src == "10.0.0.2" and p.info.endswith("len 6") for p in tcp)
    assert any("F" in p.info.split("[")[1].split("]")[0] for p in tcp)

    assert len(tcpdump(path, "tcp")) == len(tcp)
    assert sum("Flags [S]," in x for x in tcpdump(path, "tcp")) == 1
    rows = tshark(path, "tcp", "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "tcp.len")
    assert [(r[0], r[1], r[4]) for r in rows] == [
        (p.src, p.dst, p.info.rsplit(" ", 1)[1]) for p in tcp]
    assert {r[3] for r in rows if r[0] == "10.0.0.1"} == {"8080"}


@pytest.mark.requires_root
def test_a_switch_capture_names_every_port_and_html_lists_packets() -> None:
    with Topology() as t:
        sw = t.switch("sw")
        a, b = t.host("a"), t.host("b")
        ports = {v.ifname(sw) for v in (t.link(a, sw), t.link(b, sw))}
        with t.capture("sw") as cap:
            udp(a, b, 2)
        html = cap._repr_html_()
        again = t.capture(sw)
    # Bridged unicast crosses the two ports; the ARP broadcast reaches the bridge too.
    assert {p.interface for p in cap.packets if p.proto == "UDP"} == ports
    assert {p.interface for p in cap.packets if p.proto == "ARP"} == ports | {"br0"}
    assert "9999 len 2" in html and "<table" in html and "capture of sw" in html
    assert again.path.endswith("sw-2.pcapng")


@pytest.mark.requires_root
def test_loopback_packets_are_kept_once() -> None:
    with Topology() as t:
        a = t.host("a")
        with a.enter():
            srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with t.capture(a) as cap, srv, cli:
            srv.bind(("127.0.0.1", 9))
            for _ in range(3):
                cli.sendto(b"hi", ("127.0.0.1", 9))
                srv.recv(9)
        udp_ = [(p.interface, p.src, p.dst, p.info.split(" > ")[1]) for p in cap.packets
                if p.proto == "UDP"]
    assert udp_ == [("lo", "127.0.0.1", "127.0.0.1", "9 len 2")] * 3


@pytest.mark.requires_root
def test_close_stops_a_capture_left_running(tmp_path) -> None:
    t = Topology()
    try:
        a, b = t.host("a"), t.host("b")
        t.link(a, b)
        cap = t.capture(b, path=tmp_path / "b.pcapng").start()
        udp(a, b, 3)
    finally:
        t.close()
    assert not cap.running
    infos = [p.info for p in cap.packets if p.proto == "UDP"]
    assert len(infos) == 3 and all(i.endswith("> 9999 len 2") for i in infos)
    with pytest.raises(RuntimeError, match="once"):
        cap.start()


@pytest.mark.requires_root
def test_a_link_deleted_while_captured_keeps_what_was_captured() -> None:
    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        v = t.link(a, b)
        with t.capture(v) as cap:
            ping(a, b, 2)
            t.unlink(a, b)  # the kernel sets ENETDOWN on the socket: cleared, not spun on
            assert cap.running
        infos = [p.info.split(" id ")[0] for p in cap.packets if p.proto == "ICMP"]
    assert infos == ["echo request", "echo reply"] * 2


@pytest.mark.requires_root
def test_bad_arguments() -> None:
    with Topology() as t, Topology() as other:
        t.host("a")
        with pytest.raises(LookupError, match="no node named 'nope'"):
            t.capture("nope")
        with pytest.raises(TypeError, match="node_or_link"):
            t.capture(3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="path"):
            t.capture("a", path=3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="another topology"):
            t.capture(other.host("x"))
        with pytest.raises(LookupError, match="no link named 'nope0'"):
            Capture(os.path.join(t.directory, "x"), t["a"].netns, "nope0").start()
        with pytest.raises(ValueError, match="interface"):
            Capture(os.path.join(t.directory, "x"), t["a"].netns, "x" * 16).start()
        with pytest.raises(FileNotFoundError):
            Capture(os.path.join(t.directory, "no", "x"), t["a"].netns).start()


# ---------------------------------------------------------------- rootless


def _rootless_capture(path: str) -> tuple[list[Packet], int, int]:
    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b)
        with t.capture(b, path=path) as cap:
            udp(a, b, 5)
        return [p for p in cap.packets if p.proto == "UDP"], cap.dropped, os.getuid()


@pytest.mark.requires_userns
@needs_readers
def test_rootless_in_a_user_namespace_read_by_tcpdump(tmp_path) -> None:
    path = str(tmp_path / "b.pcapng")
    packets, dropped, uid = pyns.run(_rootless_capture, path, user=True, map_root=True,
                                     net=True, uts=True)
    assert uid == 0 and dropped == 0
    assert [(p.src, p.dst, p.info) for p in packets] == [
        ("10.0.0.1", "10.0.0.2", p.info) for p in packets]
    assert len(packets) == 5 and all(p.info.endswith("> 9999 len 2") for p in packets)
    assert len(tcpdump(path, "udp")) == 5


@pytest.mark.requires_userns
def test_rootless_as_nobody(nobody) -> None:
    out = nobody(
        """
        import os, socket, tempfile, pyns
        from pyns.testing import Topology

        def build():
            with Topology() as t:
                a, b = t.host("a"), t.host("b")
                t.link(a, b)
                with t.capture(a) as cap:
                    with b.enter():
                        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    with a.enter():
                        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    srv.bind((b.ip(), 9)); cli.sendto(b"hi", (b.ip(), 9)); srv.recv(9)
                return [p.info for p in cap.packets if p.proto == "UDP"], cap.dropped

        print(pyns.run(build, user=True, map_root=True, net=True, uts=True))
        """
    )
    assert out.returncode == 0, out.stderr
    infos, dropped = eval(out.stdout)
    assert dropped == 0 and len(infos) == 1 and infos[0].endswith("> 9 len 2")


def test_without_cap_net_raw_a_permission_error_with_a_hint(nobody) -> None:
    out = nobody(
        """
        import tempfile, os
        from pyns.testing.capture import Capture
        d = tempfile.mkdtemp()
        try:
            Capture(os.path.join(d, "x.pcapng")).start()
        except PermissionError as e:
            print(e.errno, e.step, "CAP_NET_RAW" in e.hint, os.listdir(d))
        finally:
            import shutil; shutil.rmtree(d)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "socket(AF_PACKET,", "SOCK_RAW)", "True", "[]"]
