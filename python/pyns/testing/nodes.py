"""The parts of a ``Topology``: ``Host`` (and routers), ``Switch`` and ``Veth`` links."""

from __future__ import annotations

import ipaddress
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional, Sequence, TypeVar, Union

from .. import _native
from .._native import Namespace, Switch as _Enter
from ..call import run as _run
from ..process import Process
from .hostkit import HostKit

if TYPE_CHECKING:
    from .topology import Topology

__all__ = ["Host", "Switch", "Veth"]

T = TypeVar("T")
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Interface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]


class _Node:
    """What hosts and switches share: a name and namespaces held by handles."""

    def __init__(self, topology: Topology, name: str, handles: dict[str, Namespace]) -> None:
        self.name = name
        self._topology = topology
        self._held = handles
        self.links: list[Veth] = []
        #: Whether a link of the node was dropped: its names may have holes (else finding the
        #: next name would cost a scan of all links, O(n²) for a switch with n hosts).
        self._dropped_links = False

    @property
    def _handles(self) -> dict[str, Namespace]:
        """The node's namespaces, all of them (a host makes its UTS namespace on first use)."""
        return self._held

    @property
    def namespaces(self) -> dict[str, Namespace]:
        """The node's namespaces by kind (``"net"``, and ``"uts"``/``"mnt"`` for hosts)."""
        return dict(self._handles)

    @property
    def netns(self) -> Namespace:
        """The node's network namespace (what ``pyns.net`` functions take as ``netns=``)."""
        return self._held["net"]

    def _next_ifname(self) -> str:
        """The first free ``ethN`` (a link removed by ``Topology.unlink`` frees its name)."""
        if not self._dropped_links:  # names were taken lowest first: eth0 .. eth{n-1}
            return sys.intern(f"eth{len(self.links)}")
        used = {v.ifname(self) for v in self.links}
        name = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
        return sys.intern(name)  # one "eth0" for all nodes, not one per link end

    def _close(self) -> None:
        for ns in self._held.values():
            ns.close()


class Host(_Node, HostKit):
    """A host of a ``Topology``: its own network and UTS namespaces (hostname = name).

    Attributes:
        name: the host's name, also its hostname.
        forwarding: whether it routes packets between its links (a router).
        clocks: the offsets of its programs' clocks (``{"monotonic": s, "boottime": s}``).
        links: its links (``Veth``), in the order they were made.
    """

    def __init__(
        self, topology: Topology, name: str, handles: dict[str, Namespace], forwarding: bool
    ) -> None:
        super().__init__(topology, name, handles)
        self.forwarding = forwarding
        self._addresses: list[tuple[str, Interface]] = []
        self._spawned: list[Process] = []
        #: The clock offsets of its programs (``Topology.host(monotonic=, boottime=)``).
        self.clocks: dict[str, float] = {}

    @property
    def _handles(self) -> dict[str, Namespace]:
        """The host's namespaces; its UTS namespace (hostname = name) is made here on first
        use, by what runs something in the host: until then an idle host holds one descriptor
        (its network namespace), which lets a process hold a 10,000-host topology."""
        if "uts" not in self._held and not self._held["net"].closed:  # not closed nor removed
            uts = _native.net_node_uts(self.name)
            if self._held.setdefault("uts", uts) is not uts:  # another thread was first
                uts.close()
            else:
                self._topology._registry.add(self)  # `pyns topology exec` joins it too
        return self._held

    def __repr__(self) -> str:
        kind = "router" if self.forwarding else "host"
        return f"<pyns.testing.Host {kind} {self.name!r} addresses={self.addresses!r}>"

    @property
    def addresses(self) -> list[str]:
        """The host's addresses in CIDR form (``'10.0.0.1/24'``), in link order."""
        return [str(a) for _, a in self._addresses]

    def _down(self) -> set[str]:
        """The names of its links that ``Topology.link_down`` took down."""
        return {v.ifname(self) for v in self.links if not v.up}

    @property
    def interfaces(self) -> list[str]:
        """The names of the host's links (``'eth0'``, ...), in link order."""
        return [v.ifname(self) for v in self.links]

    def ip(self, link: Union[None, str, Veth, _Node] = None, *, family: Optional[int] = None) -> str:
        """The host's IP address, without prefix length (for URLs and sockets).

        Args:
            link: which one: None (the first), an interface name (``'eth1'``), a ``Veth``, or
                the node at the other end of a link (a host or a switch).
            family: 4 or 6 for an address of that IP version (links are dual stack: 6 gives
                the link's IPv6 twin, ``'fd00:0:0:1::2'``); None: the first, IPv4 on a
                dual-stack link.

        Returns:
            The address, such as ``'10.0.0.1'``.

        Raises:
            ValueError: a family other than 4, 6 or None.
            LookupError: the host has no address (of that family) there yet.
        """
        if family not in (None, 4, 6):
            raise ValueError(f"family must be 4, 6 or None, not {family!r}")
        for ifname, iface in self._addresses:
            if family is not None and iface.version != family:
                continue
            if link is None or link == ifname:
                return str(iface.ip)
            if isinstance(link, Veth) and link.ifname(self) == ifname:
                return str(iface.ip)
            if isinstance(link, _Node) and any(
                v.ifname(self) == ifname and v.other(self) is link for v in self.links
            ):
                return str(iface.ip)
        what = "address" if family is None else f"IPv{family} address"
        raise LookupError(f"host {self.name!r} has no {what} on {link!r}")

    def _join(self, join: Optional[Mapping[str, Any]]) -> dict[str, Any]:
        self._topology._names_flush()
        own: dict[str, Any] = dict(self._handles)
        if join:
            own.update(join)
        return own

    def spawn(self, args: Sequence[Any], **kwargs: Any) -> Process:
        """Starts a program inside the host (``pyns.spawn`` joined to its namespaces).

        The topology kills it when it closes, if it still runs.

        Args:
            args: the program and its arguments.
            **kwargs: as for :func:`pyns.spawn` (``stdout=``, ``env=``, ``pid=True``, ...,
                and subprocess's ``user=``, ``group=``, ``extra_groups=``, ``umask=``,
                ``start_new_session=``, ``process_group=``); a ``join=`` mapping is added to
                the host's namespaces. ``log=True`` (default: the topology's ``log``) writes
                its stdout and stderr, where not redirected, to
                ``<topology dir>/<host>/<pid>-<program>.log`` (see ``logs()``).

        Returns:
            The running :class:`pyns.Process`.

        Raises:
            FileNotFoundError: the program does not exist.
            OSError, pyns.ChildError: as for :func:`pyns.spawn`.
        """
        self._topology._check_open()
        join = self._join(kwargs.pop("join", None))
        proc = self._start(args, join, {**self.clocks, **kwargs})
        procs = self._topology._processes
        procs[:] = [p for p in procs if p.returncode is None]  # forget the reaped ones
        procs.append(proc)
        self._spawned = [p for p in self.processes] + [proc]
        return proc

    @property
    def processes(self) -> list[Process]:
        """The programs spawned in the host that have not been reaped, in start order."""
        return [p for p in self._spawned if p.poll() is None]

    def pause(self) -> None:
        """Stops every program spawned in the host (SIGSTOP), like Jepsen's pause nemesis:
        its sockets stay open, peers see silence. ``resume`` continues them."""
        for p in self.processes:
            p.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Continues the programs that ``pause`` stopped (SIGCONT)."""
        for p in self.processes:
            p.send_signal(signal.SIGCONT)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Sends `sig` to every program spawned in the host; for SIGKILL, also waits for them
        to die (a paused program dies too), so that ``processes`` is empty after it.

        Args:
            sig: the signal (``signal.SIGTERM`` to let them clean up; not waited for).

        Raises:
            PermissionError: not allowed to signal them.
        """
        procs = self.processes
        for p in procs:
            p.send_signal(sig)
        if sig == signal.SIGKILL:
            for p in procs:
                p.wait()

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Calls ``fn(*args, **kwargs)`` in a child inside the host (``pyns.run``).

        Args:
            fn: the callable; its result must be picklable.
            *args, **kwargs: passed to `fn`, except the keywords of :func:`pyns.run`
                (``timeout=``, ``pid=``, ..., ``user=``, ``group=``, ``extra_groups=``,
                ``umask=``, ``start_new_session=``, ``process_group=``; ``join=`` is added to
                the host's namespaces).

        Returns:
            What `fn` returned.

        Raises:
            Exception: what `fn` raised, with the child's traceback as a note.
            TimeoutError: ``timeout=`` expired.
        """
        self._topology._check_open()
        join = self._join(kwargs.pop("join", None))
        return _run(fn, *args, join=join, **{**self.clocks, **kwargs})

    def enter(self) -> _Enter:
        """A context manager that moves the calling thread into the host and back.

        The thread joins the host's mount namespace too (its ``/etc/hosts``), except where
        it could not come back from it: in a child that owns a user namespace but not its
        mount namespace (``pyns.run(..., user=True)`` without ``mnt=True``), only the
        host's network and UTS namespaces are joined.

        Returns:
            A ``pyns.Switch`` block: ``with host.enter(): socket.create_connection(...)``.

        Raises:
            ValueError: the topology is closed.
        """
        self._topology._check_open()
        self._topology._names_flush()
        mnt = self._topology._mnt_comes_back()
        return _Enter([ns for kind, ns in self._handles.items() if kind != "mnt" or mnt])


class Switch(_Node):
    """A switch of a ``Topology``: a bridge (``br0``) in its own network namespace.

    Hosts linked to it share its subnet and get addresses .1, .2, ... in link order. Switches
    linked to each other are one L2 segment with one subnet (the first switch's).

    Attributes:
        name: the switch's name.
        subnet: the subnet of the hosts on it.
    """

    def __init__(
        self, topology: Topology, name: str, handles: dict[str, Namespace], subnet: Network
    ) -> None:
        super().__init__(topology, name, handles)
        self._segment = _Segment(subnet)

    def __repr__(self) -> str:
        return f"<pyns.testing.Switch {self.name!r} subnet='{self.subnet}'>"

    @property
    def subnet(self) -> Network:
        """The subnet of the hosts on it (shared by the switches linked to it)."""
        return self._segment.subnet

    @property
    def _hosts(self) -> int:
        return self._segment.hosts

    @_hosts.setter
    def _hosts(self, n: int) -> None:
        self._segment.hosts = n

    @property
    def hosts(self) -> list[Host]:
        """The hosts linked to it, in link order."""
        return [n for n in (v.other(self) for v in self.links) if isinstance(n, Host)]


class _Segment:
    """What switches linked to each other share: one subnet, one count of hosts addressed."""

    def __init__(self, subnet: Network) -> None:
        self.subnet = subnet
        #: Its IPv6 /64 (dual stack), if it has one.
        self.subnet6: Optional[Network] = None
        self.hosts = 0


class Veth:
    """A link of a ``Topology``: a veth pair between two nodes.

    Attributes:
        a, b: the two nodes, in the order given to ``Topology.link``.
        subnet: the link's subnet (a switch's for links to a switch).
        addresses: ``(a's, b's)`` addresses in CIDR form; None for a switch's end.
        addresses6: ``(a's, b's)`` IPv6 twins of `addresses` (dual stack), or None.
        partitioned: whether ``Topology.partition`` cut this link (its qdiscs drop all).
        up: False after ``Topology.link_down``, until ``link_up``.
    """

    def __init__(
        self,
        a: _Node,
        b: _Node,
        names: tuple[str, str],
        subnet: Network,
        addresses: tuple[Optional[Interface], Optional[Interface]],
    ) -> None:
        self.a = a
        self.b = b
        self.names = names
        self.subnet = subnet
        # Objects the hosts hold anyway; their strings are made when asked for.
        self._ifaces = addresses
        self._ifaces6: tuple[Optional[Interface], ...] = (None, None)
        self._shape: Optional[dict[str, Any]] = None
        self._shape_ends: tuple[int, ...] = (0, 1)
        self.partitioned = False
        self.up = True

    @property
    def addresses(self) -> tuple[Optional[str], ...]:
        """``(a's, b's)`` addresses in CIDR form; None for a switch's end."""
        return tuple(None if x is None else str(x) for x in self._ifaces)

    @property
    def addresses6(self) -> tuple[Optional[str], ...]:
        """``(a's, b's)`` IPv6 twins of `addresses` (dual stack), or None."""
        return tuple(None if x is None else str(x) for x in self._ifaces6)

    @property
    def shaped(self) -> bool:
        """Whether ``Topology.shape`` set delay, loss or rate on this link."""
        return self._shape is not None

    def __repr__(self) -> str:
        ends = [
            f"{n.name}:{i}" + (f"={a}" if a else "")
            for n, i, a in zip((self.a, self.b), self.names, self.addresses)
        ]
        return f"<pyns.testing.Veth {ends[0]} <-> {ends[1]}>"

    def ends(self) -> Iterator[tuple[_Node, str]]:
        """Each end: (node, interface name)."""
        yield self.a, self.names[0]
        yield self.b, self.names[1]

    def ifname(self, node: _Node) -> str:
        """The name of the end inside `node`."""
        return self.names[0] if node is self.a else self.names[1]

    def other(self, node: _Node) -> _Node:
        """The node at the other end from `node`."""
        return self.b if node is self.a else self.a
