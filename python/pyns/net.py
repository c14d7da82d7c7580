"""Networking by netlink: links, veth pairs, bridges, addresses and routes, in any namespace.

Every function takes ``netns=``: a ``pyns.Namespace``, a pid (or a process object with a
``.pid``), an nsfs path, or an iproute2 name (``"blue"`` is ``/run/netns/blue``); the default is
the calling thread's network namespace. The request is made through a NETLINK_ROUTE socket
opened inside that namespace, so the calling thread never moves and no ``ip`` process runs.
A ``Namespace`` handle keeps its socket open until the handle is closed, so repeated calls with
the same handle are the fast path.

    a, b = pyns.net.veth("veth0", "veth1", peer_netns=ns)
    pyns.net.add_addr("veth1", "10.1.1.1/24", netns=ns)
    pyns.net.set_link("veth1", up=True, netns=ns)

Results are ``Link``, ``Addr`` and ``Route`` objects: immutable, comparable, picklable.

Bad names, addresses and MACs raise ``ValueError`` before anything is sent; a link that does
not exist raises ``LookupError``; the kernel's refusals raise the matching ``OSError`` subclass
(``FileExistsError``, ``PermissionError``, ...) with ``.errno`` and a note naming the request,
such as ``RTM_NEWLINK veth0``.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any, NamedTuple, Optional, Union

from . import _native
from ._native import Addr, Link, Namespace, Route

__all__ = [
    "Addr",
    "Link",
    "Qdisc",
    "Route",
    "add_addr",
    "add_route",
    "addrs",
    "blackhole",
    "bridge",
    "del_addr",
    "del_route",
    "delete_link",
    "link",
    "links",
    "loopback_up",
    "qdiscs",
    "routes",
    "set_link",
    "shape",
    "unshape",
    "veth",
    "vlan",
]

#: What ``netns=`` accepts.
NetnsLike = Union[None, Namespace, int, str, "os.PathLike[str]", Any]
#: An address in CIDR form, as a str or an ``ipaddress`` interface.
CidrLike = Union[str, ipaddress.IPv4Interface, ipaddress.IPv6Interface]


def _cidr(cidr: CidrLike) -> str:
    if isinstance(cidr, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return str(cidr)
    if not isinstance(cidr, str):
        raise TypeError(f"cidr must be a str like '10.1.1.1/24', not {type(cidr).__name__}")
    return cidr


def link(name: str, *, netns: NetnsLike = None) -> Link:
    """Looks up one link by name (``RTM_GETLINK``).

    Args:
        name: the interface name.
        netns: where to look (see the module docstring); default: the calling thread's.

    Returns:
        The ``Link``.

    Raises:
        ValueError: a name that no interface can have (more than 15 bytes, ``/``, ...).
        LookupError: there is no such link.
        OSError: the namespace cannot be opened or the request failed.
    """
    return _native.net_link(name, netns)


def links(*, netns: NetnsLike = None) -> list[Link]:
    """Lists every link of a network namespace (an ``RTM_GETLINK`` dump), in index order.

    Args:
        netns: where to look; default: the calling thread's network namespace.

    Returns:
        A list of ``Link``.

    Raises:
        OSError: the namespace cannot be opened or the request failed.
    """
    return _native.net_links(netns)


def veth(
    name: str, peer: str, *, peer_netns: NetnsLike = None, netns: NetnsLike = None
) -> tuple[Link, Link]:
    """Creates a veth pair; the peer end is born directly inside ``peer_netns``.

    Creating the peer in its namespace (``IFLA_NET_NS_FD``) avoids moving it afterwards, which
    costs the kernel 15-20 ms. Both ends start down.

    Args:
        name: the name of the first end, created in ``netns``.
        peer: the name of the other end.
        peer_netns: where the peer is created; default: the same namespace as ``name``.
        netns: where the first end is created; default: the calling thread's.

    Returns:
        ``(first, peer)`` as ``Link`` objects, each read back from its namespace.

    Raises:
        ValueError: a bad interface name, or the same name twice in one namespace.
        FileExistsError: a link of that name exists already.
        PermissionError: without CAP_NET_ADMIN over the namespaces involved.
    """
    return _native.net_veth(name, peer, peer_netns, netns)


def bridge(name: str, *, netns: NetnsLike = None) -> Link:
    """Creates a bridge (down, no ports); attach links with ``set_link(..., master=name)``.

    Args:
        name: the bridge's name.
        netns: where to create it; default: the calling thread's network namespace.

    Returns:
        The new ``Link``.

    Raises:
        ValueError: a bad interface name.
        FileExistsError: a link of that name exists already.
        PermissionError: without CAP_NET_ADMIN.
    """
    return _native.net_bridge(name, netns)


def vlan(name: str, link: str, vid: int, *, netns: NetnsLike = None) -> Link:
    """Creates an 802.1Q VLAN on top of a link, like ``ip link add NAME link LINK type vlan id VID``.

    The VLAN sends and receives the frames of ``link`` tagged with ``vid``; several VLANs on
    one link model a trunk. It starts down, in the same namespace as ``link``.

    Args:
        name: the VLAN's interface name.
        link: the link it sits on (a veth end, a bridge, ...), in ``netns``.
        vid: the VLAN id, 1 to 4094.
        netns: where ``link`` is and the VLAN is made; default: the calling thread's.

    Returns:
        The new ``Link`` (kind ``"vlan"``).

    Raises:
        TypeError: ``vid`` is not an int.
        ValueError: a bad interface name, or ``vid`` outside 1..4094.
        LookupError: there is no link named ``link``.
        FileExistsError: a link named ``name`` exists already.
        PermissionError: without CAP_NET_ADMIN.
        pyns.UnsupportedError: the kernel has no VLAN support (the ``8021q`` module is not
            loaded and cannot be loaded; ``modprobe 8021q`` loads it).
    """
    if not isinstance(vid, int) or isinstance(vid, bool):
        raise TypeError(f"vid must be an int from 1 to 4094, not {type(vid).__name__}")
    return _native.net_vlan(name, link, vid, netns)


def set_link(
    name: str,
    *,
    up: Optional[bool] = None,
    mtu: Optional[int] = None,
    mac: Optional[str] = None,
    master: Optional[str] = None,
    nomaster: bool = False,
    move_to: NetnsLike = None,
    rename: Optional[str] = None,
    netns: NetnsLike = None,
) -> None:
    """Changes a link, like ``ip link set``; unset arguments leave a property as it is.

    All or nothing: the arguments, the link, the master, the new name and the MTU range are
    checked before anything changes, everything is sent in one request, and if the kernel
    refuses a part of it, what it applied before refusing is put back (a port that lost its
    bridge joins it again, a link that moved comes back).

    With ``move_to`` the link is moved first (and renamed on the way when ``rename`` is given);
    the other changes then apply in the namespace it moved to (moving brings a link down).

    Args:
        name: the link to change.
        up: bring it up (True) or down (False).
        mtu: the new MTU, within the device's range (68 to 65535 for a veth).
        mac: the new hardware address, ``"02:00:00:00:00:01"``.
        master: attach it to this bridge (or bond, team, vrf) in the same namespace (in
            ``move_to`` when moving).
        nomaster: detach it from its bridge.
        move_to: move it to this network namespace (same forms as ``netns``).
        rename: the new name.
        netns: where the link is; default: the calling thread's network namespace.

    Raises:
        TypeError: an MTU that is not an int.
        ValueError: a bad name or MAC, an MTU out of the device's range, a master that takes
            no ports (a veth, ``lo``) or is the link itself, or both ``master`` and
            ``nomaster``.
        LookupError: no link ``name`` (or no ``master``).
        FileExistsError: a link named ``rename`` exists already.
        OSError: the kernel refused the change (e.g. ``ELOOP`` for a bridge into a bridge);
            nothing of it stays applied.
    """
    _native.net_set_link(name, netns, up, mtu, mac, master, nomaster, move_to, rename)


def delete_link(name: str, *, netns: NetnsLike = None) -> None:
    """Deletes a link (``RTM_DELLINK``); deleting one end of a veth deletes both.

    Deleting a veth costs the kernel 15-20 ms; when a whole namespace goes away, dropping it
    (closing the last handle) removes its links at no cost to the caller.

    Args:
        name: the link to delete.
        netns: where the link is; default: the calling thread's network namespace.

    Raises:
        ValueError: a bad interface name.
        LookupError: there is no such link.
        PermissionError: without CAP_NET_ADMIN.
    """
    _native.net_delete_link(name, netns)


def add_addr(name: str, cidr: CidrLike, *, netns: NetnsLike = None) -> None:
    """Adds an IPv4 or IPv6 address to a link, like ``ip addr add``.

    IPv6 addresses are added without duplicate address detection (``IFA_F_NODAD``), so they
    can be used at once.

    Args:
        name: the link.
        cidr: ``"10.1.1.1/24"`` or ``"fd00::1/64"`` (or an ``ipaddress`` interface); without a
            prefix length the address is a host address (/32, /128).
        netns: where the link is; default: the calling thread's network namespace.

    Raises:
        ValueError: a bad name or address.
        LookupError: there is no such link.
        FileExistsError: the link has this address already.
        PermissionError: without CAP_NET_ADMIN.
    """
    _native.net_add_addr(name, _cidr(cidr), netns)


def del_addr(name: str, cidr: CidrLike, *, netns: NetnsLike = None) -> None:
    """Removes an address from a link, like ``ip addr del``.

    Args:
        name: the link.
        cidr: the address with its prefix length, as it was added.
        netns: where the link is; default: the calling thread's network namespace.

    Raises:
        ValueError: a bad name or address.
        LookupError: there is no such link, or it does not have this address.
        PermissionError: without CAP_NET_ADMIN.
    """
    _native.net_del_addr(name, _cidr(cidr), netns)


def addrs(name: Optional[str] = None, *, netns: NetnsLike = None) -> list[Addr]:
    """Lists IP addresses (IPv4 and IPv6), of one link or of all.

    Args:
        name: only this link's addresses; default: every link's.
        netns: where to look; default: the calling thread's network namespace.

    Returns:
        A list of ``Addr``.

    Raises:
        ValueError: a bad interface name.
        LookupError: there is no link ``name``.
        OSError: the namespace cannot be opened or the request failed.
    """
    return _native.net_addrs(name, netns)


def add_route(
    dst: str,
    *,
    via: Optional[str] = None,
    dev: Optional[str] = None,
    metric: Optional[int] = None,
    netns: NetnsLike = None,
) -> None:
    """Adds a route to the main table, like ``ip route add``.

    Args:
        dst: ``"default"`` or a network, ``"10.2.0.0/16"`` (host bits must be zero),
            IPv4 or IPv6.
        via: the gateway's address (same IP version as ``dst``).
        dev: the output link; at least one of ``via`` and ``dev`` is needed.
        metric: the route's priority (0 to 2**32 - 1).
        netns: where; default: the calling thread's network namespace.

    Raises:
        TypeError: a metric that is not an int.
        ValueError: a bad destination or gateway, mixed IP versions, a metric out of range,
            or neither via nor dev.
        LookupError: there is no link ``dev``.
        FileExistsError: the route exists already.
        OSError: the kernel refused it (``ENETUNREACH`` for a gateway on no connected network).
    """
    _native.net_add_route(dst, via, dev, metric, netns)


def del_route(
    dst: str,
    *,
    via: Optional[str] = None,
    dev: Optional[str] = None,
    metric: Optional[int] = None,
    netns: NetnsLike = None,
) -> None:
    """Deletes a route from the main table, like ``ip route del``.

    Args:
        dst: ``"default"`` or the destination network.
        via: only a route through this gateway.
        dev: only a route through this link.
        metric: only a route with this priority.
        netns: where; default: the calling thread's network namespace.

    Raises:
        ValueError: a bad destination or gateway.
        LookupError: no link ``dev``, or no such route.
        PermissionError: without CAP_NET_ADMIN.
    """
    _native.net_del_route(dst, via, dev, metric, netns)


def routes(*, netns: NetnsLike = None) -> list[Route]:
    """Lists the main routing table, IPv4 and IPv6 (what ``ip route`` and ``ip -6 route`` show).

    Args:
        netns: where; default: the calling thread's network namespace.

    Returns:
        A list of ``Route``.

    Raises:
        OSError: the namespace cannot be opened or the request failed.
    """
    return _native.net_routes(netns)


def loopback_up(*, netns: NetnsLike = None) -> None:
    """Brings ``lo`` up (a new network namespace starts with it down).

    Args:
        netns: where; default: the calling thread's network namespace.

    Raises:
        PermissionError: without CAP_NET_ADMIN (or, for another namespace, CAP_SYS_ADMIN to
            enter it).
    """
    _native.net_loopback_up(netns)


def shape(
    name: str,
    *,
    delay_ms: Optional[float] = None,
    jitter_ms: Optional[float] = None,
    loss_pct: Optional[float] = None,
    rate_mbit: Optional[float] = None,
    distribution: Optional[str] = None,
    loss_correlation_pct: Optional[float] = None,
    duplicate_pct: Optional[float] = None,
    reorder_pct: Optional[float] = None,
    corrupt_pct: Optional[float] = None,
    limit: Optional[int] = None,
    netns: NetnsLike = None,
) -> None:
    """Shapes what a link sends, like ``tc qdisc replace dev NAME root netem ... / tbf ...``.

    Everything but the rate is netem's (a root qdisc ``1:``), the rate is tbf's (under netem
    when both are asked for). Both are configured by netlink; no ``tc`` process runs (a
    ``distribution`` table is read from iproute2's ``<name>.dist`` file, as ``tc`` reads it,
    and sent by netlink). Any earlier shape of the link is replaced. Only the link's own egress
    is shaped: shape both ends of a veth to shape both directions.

    Args:
        name: the link.
        delay_ms: added one-way delay in milliseconds.
        jitter_ms: random variation of the delay, in milliseconds.
        distribution: how the delay varies within the jitter: ``"uniform"`` (the default),
            ``"normal"``, ``"pareto"`` or ``"paretonormal"`` (needs jitter_ms > 0).
        loss_pct: share of packets dropped at random, in percent (0 to 100).
        loss_correlation_pct: how much a packet's loss depends on the previous packet's, in
            percent (needs loss_pct).
        duplicate_pct: share of packets sent twice, in percent.
        reorder_pct: share of packets sent at once, ahead of the delayed others, in percent
            (needs delay_ms > 0).
        corrupt_pct: share of packets with one random bit flipped, in percent.
        limit: packets netem queues at most (default 10,000).
        rate_mbit: the rate limit in Mbit/s.
        netns: where the link is; default: the calling thread's network namespace.

    Raises:
        TypeError: a setting that is not a number (limit: not an int; distribution: not a str).
        ValueError: a bad name, a negative, non-finite or too large number, a percentage above
            100, a zero rate or limit, an unknown distribution, reorder_pct without delay_ms,
            distribution without jitter_ms, loss_correlation_pct without loss_pct, or no
            setting at all.
        LookupError: there is no such link.
        pyns.UnsupportedError: anything but the rate on a kernel without the netem qdisc (the
            message names sch_netem and how to get it), or a distribution whose table is not
            installed (iproute2), before anything is changed.
        PermissionError: without CAP_NET_ADMIN.
    """
    _native.net_shape(
        name, netns, delay_ms, jitter_ms, loss_pct, rate_mbit, distribution,
        loss_correlation_pct, duplicate_pct, reorder_pct, corrupt_pct, limit,
    )


def unshape(name: str, *, netns: NetnsLike = None) -> None:
    """Removes a link's own root qdisc (its shape or blackhole), like ``tc qdisc del root``.

    A link with nothing installed is left as it is.

    Args:
        name: the link.
        netns: where the link is; default: the calling thread's network namespace.

    Raises:
        ValueError: a bad name.
        LookupError: there is no such link.
        PermissionError: without CAP_NET_ADMIN.
    """
    _native.net_unshape(name, netns)


def blackhole(name: str, *, netns: NetnsLike = None) -> None:
    """Makes a link drop everything it sends, silently (the ``blackhole`` root qdisc).

    Senders see no error: a TCP connection through the link times out, as in a network
    partition. ``unshape`` ends it.

    Args:
        name: the link.
        netns: where the link is; default: the calling thread's network namespace.

    Raises:
        ValueError: a bad name.
        LookupError: there is no such link.
        PermissionError: without CAP_NET_ADMIN.
    """
    _native.net_blackhole(name, netns)


#: ``TC_H_ROOT``: the parent of a link's root qdisc.
_TC_ROOT = 0xFFFFFFFF


def _tc_handle(h: int) -> str:
    """A qdisc handle as tc prints it: ``1:``, ``ffff:fff1``."""
    major, minor = h >> 16, h & 0xFFFF
    return f"{major:x}:" + (f"{minor:x}" if minor else "")


class Qdisc(NamedTuple):
    """A queueing discipline of a link, as ``tc -s qdisc show`` reports it.

    Attributes:
        link: the link's name.
        kind: ``"noqueue"``, ``"netem"``, ``"tbf"``, ``"blackhole"``, ``"clsact"``, ...
        handle: its handle as tc prints it (``"1:"``).
        parent: ``"root"``, or the parent's handle (``"1:1"``).
        packets: packets it has sent.
        drops: packets it has dropped.
    """

    link: str
    kind: str
    handle: str
    parent: str
    packets: int
    drops: int


def qdiscs(*, netns: NetnsLike = None) -> list[Qdisc]:
    """Lists the qdiscs of every link with their counters (what ``tc -s qdisc show`` shows).

    Args:
        netns: where; default: the calling thread's network namespace.

    Returns:
        A list of ``Qdisc``, in the kernel's order.

    Raises:
        OSError: the namespace cannot be opened or the request failed.
    """
    return [
        Qdisc(link, kind, _tc_handle(h), "root" if p == _TC_ROOT else _tc_handle(p), n, d)
        for link, kind, h, p, n, d in _native.net_qdiscs(netns)
    ]
