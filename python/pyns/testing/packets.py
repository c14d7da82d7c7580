"""Reading capture files: pcapng (and classic pcap) with Ethernet frames, summarised one line
per packet as tcpdump would, without tcpdump: ARP, IPv4, IPv6, ICMP, ICMPv6, TCP and UDP.

Pure Python, no privileges: ``read(path)`` works on any file ``pyns`` or tcpdump wrote.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from typing import Iterator, NamedTuple, Union

__all__ = ["Packet", "read", "summarise"]

#: Link types (https://www.tcpdump.org/linktypes.html) this module understands.
LINKTYPE_ETHERNET = 1


class Packet(NamedTuple):
    """One captured packet, summarised.

    Attributes:
        time: when it was captured, in seconds since the epoch.
        interface: the interface it was seen on (as named in the capture's namespace).
        src, dst: its addresses (IP for IP and ARP, MAC otherwise).
        proto: ``"TCP"``, ``"UDP"``, ``"ICMP"``, ``"ICMPv6"``, ``"ARP"``, ``"IPv4"``,
            ``"IPv6"``, or the EtherType as ``"0x88cc"``.
        length: its length on the wire, in bytes.
        info: what tcpdump would say about it, in short (``"echo request id 1 seq 3"``).
    """

    time: float
    interface: str
    src: str
    dst: str
    proto: str
    length: int
    info: str


class _Iface(NamedTuple):
    name: str
    linktype: int
    ticks: int  # timestamp units per second


def read(path: Union[str, os.PathLike[str]]) -> list[Packet]:
    """Reads and summarises every packet of a pcapng or pcap file.

    Args:
        path: the file. A block cut short at the end (a capture still being written) ends
            the list.

    Returns:
        The packets, in file order.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is neither pcapng nor pcap.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return list(_pcapng(data))
    return list(_pcap(data))


def _pcapng(data: bytes) -> Iterator[Packet]:
    order = "<"
    ifaces: list[_Iface] = []
    at = 0
    while at + 12 <= len(data):
        kind = struct.unpack_from(order + "I", data, at)[0]
        if kind == 0x0A0D0D0A:  # Section Header Block: its byte order applies from here
            order = "<" if data[at + 8 : at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        size = struct.unpack_from(order + "I", data, at + 4)[0]
        if size < 12 or at + size > len(data):
            return
        body = data[at + 8 : at + size - 4]
        at += size
        if kind == 1:  # Interface Description Block
            linktype = struct.unpack_from(order + "H", body)[0]
            opts = dict(_options(body[8:], order))
            ticks = 10**6
            if 9 in opts:
                r = opts[9][0]
                ticks = 2 ** (r & 0x7F) if r & 0x80 else 10 ** r
            name = opts.get(2, b"").decode(errors="replace") or f"if{len(ifaces)}"
            ifaces.append(_Iface(name, linktype, ticks))
        elif kind == 6:  # Enhanced Packet Block
            iface, hi, lo, caplen, length = struct.unpack_from(order + "5I", body)
            if iface >= len(ifaces):
                continue
            i = ifaces[iface]
            t = ((hi << 32) | lo) / i.ticks
            yield summarise(body[20 : 20 + caplen], i.linktype, t, i.name, length)


def _options(b: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    at = 0
    while at + 4 <= len(b):
        code, n = struct.unpack_from(order + "HH", b, at)
        if code == 0:
            return
        yield code, b[at + 4 : at + 4 + n]
        at += 4 + (n + 3) // 4 * 4


def _pcap(data: bytes) -> Iterator[Packet]:
    magics = {
        b"\xd4\xc3\xb2\xa1": ("<", 10**6),
        b"\xa1\xb2\xc3\xd4": (">", 10**6),
        b"\x4d\x3c\xb2\xa1": ("<", 10**9),
        b"\xa1\xb2\x3c\x4d": (">", 10**9),
    }
    if data[:4] not in magics:
        raise ValueError("not a pcapng or pcap file")
    order, ticks = magics[data[:4]]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0xFFFF
    at = 24
    while at + 16 <= len(data):
        sec, frac, caplen, length = struct.unpack_from(order + "4I", data, at)
        if at + 16 + caplen > len(data):
            return
        frame = data[at + 16 : at + 16 + caplen]
        at += 16 + caplen
        yield summarise(frame, linktype, sec + frac / ticks, "", length)


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def summarise(frame: bytes, linktype: int, time: float, interface: str, length: int) -> Packet:
    """Summarises one captured frame.

    Args:
        frame: the captured bytes, from the link-layer header on.
        linktype: the capture's link type (only Ethernet is decoded).
        time: when it was captured (seconds since the epoch).
        interface: the name of the interface it was seen on.
        length: its length on the wire.

    Returns:
        The ``Packet``; what cannot be decoded (a cut-short header, another link type) says so
        in ``info``.
    """
    if linktype != LINKTYPE_ETHERNET:
        return Packet(time, interface, "", "", f"linktype {linktype}", length, "")
    try:
        src, dst, proto, info = _ethernet(frame)
    except (struct.error, IndexError, ValueError):
        src, dst, proto, info = "", "", "?", "truncated"
    return Packet(time, interface, src, dst, proto, length, info)


def _ethernet(f: bytes) -> tuple[str, str, str, str]:
    dst, src = _mac(f[0:6]), _mac(f[6:12])
    etype = struct.unpack_from("!H", f, 12)[0]
    at = 14
    vlan = ""
    while etype in (0x8100, 0x88A8):  # 802.1Q / 802.1ad tags
        vlan += f"vlan {struct.unpack_from('!H', f, at)[0] & 0xFFF} "
        etype = struct.unpack_from("!H", f, at + 2)[0]
        at += 4
    payload = f[at:]
    if etype == 0x0800:
        s, d, p, info = _ipv4(payload)
    elif etype == 0x86DD:
        s, d, p, info = _ipv6(payload)
    elif etype == 0x0806:
        s, d, p, info = _arp(payload)
    else:
        s, d, p, info = src, dst, f"0x{etype:04x}", f"{len(payload)} bytes"
    return s, d, p, vlan + info


def _arp(p: bytes) -> tuple[str, str, str, str]:
    op = struct.unpack_from("!H", p, 6)[0]
    hlen, plen = p[4], p[5]
    sha = p[8 : 8 + hlen]
    spa = p[8 + hlen : 8 + hlen + plen]
    tpa = p[8 + 2 * hlen + plen : 8 + 2 * hlen + 2 * plen]
    s, t = str(ipaddress.ip_address(spa)), str(ipaddress.ip_address(tpa))
    if op == 1:
        info = f"who-has {t} tell {s}"
    elif op == 2:
        info = f"{s} is-at {_mac(sha)}"
    else:
        info = f"op {op}"
    return s, t, "ARP", info


def _ipv4(p: bytes) -> tuple[str, str, str, str]:
    ihl = (p[0] & 0x0F) * 4
    total, frag, proto = struct.unpack_from("!H2xH1xB", p, 2)
    src, dst = str(ipaddress.IPv4Address(p[12:16])), str(ipaddress.IPv4Address(p[16:20]))
    if frag & 0x1FFF:
        return src, dst, "IPv4", f"fragment of proto {proto} offset {(frag & 0x1FFF) * 8}"
    return (src, dst, *_transport(proto, p[ihl:total], v6=False))


#: IPv6 extension headers skipped to find the transport: hop-by-hop, routing, destination.
_IPV6_EXT = {0, 43, 60}


def _ipv6(p: bytes) -> tuple[str, str, str, str]:
    plen, nxt = struct.unpack_from("!HB", p, 4)
    src, dst = str(ipaddress.IPv6Address(p[8:24])), str(ipaddress.IPv6Address(p[24:40]))
    body = p[40 : 40 + plen]
    while nxt in _IPV6_EXT:
        nxt, n = body[0], (body[1] + 1) * 8
        body = body[n:]
    if nxt == 44:  # fragment
        return src, dst, "IPv6", f"fragment of proto {body[0]}"
    return (src, dst, *_transport(nxt, body, v6=True))


_ICMP = {0: "echo reply", 3: "destination unreachable", 8: "echo request", 11: "time exceeded"}
_UNREACH = {0: "net", 1: "host", 2: "protocol", 3: "port", 4: "need to frag", 13: "prohibited"}
_ICMP6 = {
    1: "destination unreachable",
    2: "packet too big",
    3: "time exceeded",
    128: "echo request",
    129: "echo reply",
    133: "router solicitation",
    134: "router advertisement",
    135: "neighbor solicitation",
    136: "neighbor advertisement",
    143: "multicast listener report v2",
}
_TCP_FLAGS = ((0x02, "S"), (0x01, "F"), (0x04, "R"), (0x08, "P"), (0x20, "U"), (0x40, "E"),
              (0x80, "W"))


def _transport(proto: int, b: bytes, *, v6: bool) -> tuple[str, str]:
    if proto == 6:
        sport, dport, seq, ack, off, flags, win = struct.unpack_from("!HHIIBBH", b)
        marks = "".join(c for bit, c in _TCP_FLAGS if flags & bit) + ("." if flags & 0x10 else "")
        info = f"{sport} > {dport} [{marks}] seq {seq}"
        if flags & 0x10:
            info += f" ack {ack}"
        return "TCP", info + f" win {win} len {len(b) - (off >> 4) * 4}"
    if proto == 17:
        sport, dport, n = struct.unpack_from("!HHH", b)
        return "UDP", f"{sport} > {dport} len {n - 8}"
    if proto == 1 and not v6:
        return "ICMP", _icmp(b, v6=False)
    if proto == 58 and v6:
        return "ICMPv6", _icmp(b, v6=True)
    return ("IPv6" if v6 else "IPv4"), f"proto {proto}"


def _icmp(b: bytes, *, v6: bool) -> str:
    kind, code = b[0], b[1]
    name = (_ICMP6 if v6 else _ICMP).get(kind, f"type {kind} code {code}")
    if kind in ((128, 129) if v6 else (0, 8)):
        ident, seq = struct.unpack_from("!HH", b, 4)
        return f"{name} id {ident} seq {seq}"
    if kind == 3 and not v6:
        return f"{name} ({_UNREACH.get(code, f'code {code}')})"
    if v6 and kind in (135, 136):
        return f"{name} {ipaddress.IPv6Address(b[8:24])}"
    return name
