"""Packet capture in a topology, in-process: ``with t.capture(node_or_link) as cap: ...``.

The Rust core opens an AF_PACKET socket inside the node's network namespace (so it needs
CAP_NET_RAW there: root, or the owner of the topology's user namespace; no tcpdump process),
with a TPACKET_V3 ring of 16 MiB, and a Rust thread writes every packet to a pcapng file that
``tcpdump -r`` and ``tshark -r`` read: one interface block per interface (its name in the node),
Ethernet framing, nanosecond timestamps, each packet's direction.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional, Union

from .. import _native
from ..display import _table
from .nodes import Veth, _Node
from .packets import Packet, read

if TYPE_CHECKING:
    from .._native import Namespace

__all__ = ["Capture", "Captures", "Packet"]


class Capture:
    """Packets of a node's interfaces (or of one link's end) written to a pcapng file.

    Made by ``Topology.capture``; capturing runs between ``start()`` and ``stop()``, which
    the ``with`` block calls.

    Attributes:
        path: the pcapng file.
        subject: what is captured, as text (``"a"``, ``"a:eth0"``).
    """

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        netns: Optional[Namespace] = None,
        interface: Optional[str] = None,
        subject: str = "",
    ) -> None:
        self.path = os.fspath(path)
        self.subject = subject or (interface or "every interface")
        self._netns = netns
        self._interface = interface
        self._native: Optional[_native.PacketCapture] = None
        self._packets: Optional[list[Packet]] = None

    def __repr__(self) -> str:
        state = "not started" if self._native is None else (
            "running" if self.running else f"{self.captured} packets, {self.dropped} dropped")
        return f"<pyns.testing.Capture {self.subject} {self.path!r} {state}>"

    def start(self) -> Capture:
        """Starts capturing (creates or truncates the file).

        Returns:
            The capture itself.

        Raises:
            RuntimeError: it was started before.
            PermissionError: no CAP_NET_RAW in the user namespace that owns the node's network
                namespace (``.hint`` says how to get it).
            LookupError: the interface is gone.
            OSError: the file cannot be created.
        """
        if self._native is not None:
            raise RuntimeError("a Capture starts once; make a new one with Topology.capture")
        self._native = _native.capture_start(self.path, self._netns, self._interface)
        return self

    def stop(self) -> None:
        """Stops capturing: packets the kernel still holds are written, the file is closed.
        Calling it again does nothing.

        Raises:
            OSError: writing the file failed.
        """
        if self._native is not None:
            self._native.stop()

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether packets are being captured now."""
        return self._native is not None and self._native.running

    @property
    def captured(self) -> int:
        """How many packets were written so far."""
        return 0 if self._native is None else self._native.captured

    @property
    def dropped(self) -> int:
        """How many packets the kernel dropped because the ring was full (known after
        ``stop()``; the kernel's PACKET_STATISTICS)."""
        return 0 if self._native is None else self._native.dropped

    @property
    def packets(self) -> list[Packet]:
        """Every packet of the file, summarised: ``(time, interface, src, dst, proto, length,
        info)``. While running, the packets written so far (the file is flushed by blocks)."""
        if self._packets is not None:
            return self._packets
        packets = read(self.path)
        if self._native is not None and not self._native.running:
            self._packets = packets
        return packets

    def _repr_html_(self) -> str:
        t0 = self.packets[0].time if self.packets else 0.0
        rows = [
            (f"{p.time - t0:.6f}", p.interface, p.src, p.dst, p.proto, p.length, p.info)
            for p in self.packets
        ]
        caption = f"capture of {self.subject}: {len(rows)} packets"
        if self.dropped:
            caption += f", {self.dropped} dropped"
        return _table(
            caption + f" ({self.path})",
            ("time", "interface", "src", "dst", "proto", "length", "info"),
            rows,
        )


class Captures:
    """``Topology.capture``, mixed into ``Topology``."""

    _links: list[Veth]
    _captures: list[Capture]

    if TYPE_CHECKING:  # provided by Topology

        def _check_open(self) -> None: ...

        def _node(self, node: Union[str, _Node], what: str) -> _Node: ...

        @property
        def directory(self) -> str: ...

    def capture(
        self, node_or_link: Union[str, _Node, Veth], path: Union[None, str, os.PathLike[str]] = None
    ) -> Capture:
        """Captures the packets of a node or a link, in-process.

        Use it as ``with t.capture(a) as cap: ...``; then ``cap.packets`` lists them and
        ``cap.path`` is a pcapng file that ``tcpdump -r`` and ``tshark -r`` read.

        Args:
            node_or_link: a node (or its name): every interface of it, ``lo`` included; or a
                ``Veth``: its end in its first node, which sees both directions.
            path: where to write the file; by default ``<t.directory>/<node>.pcapng`` (or
                ``<a>-<b>.pcapng`` for a link; ``-2``, ``-3``, ... when taken).

        Returns:
            A ``Capture``, not started yet: the ``with`` block (or ``start()``) starts it.
            Captures still running when the topology closes are stopped then.

        Raises:
            TypeError: `node_or_link` is neither a node, a name nor a ``Veth``.
            LookupError: no node of that name.
            ValueError: the node or link belongs to another topology.
        """
        self._check_open()
        if isinstance(node_or_link, Veth):
            if node_or_link not in self._links:
                raise ValueError(f"node_or_link {node_or_link!r} belongs to another topology")
            node = node_or_link.a
            interface: Optional[str] = node_or_link.names[0]
            name = f"{node.name}-{node_or_link.b.name}"
            subject = f"{node.name}:{interface}"
        else:
            node = self._node(node_or_link, "node_or_link")
            interface, name, subject = None, node.name, node.name
        if path is None:
            path = _free(os.path.join(self.directory, name), ".pcapng")
        elif not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
        cap = Capture(path, node.netns, interface, subject)
        if not hasattr(self, "_captures"):
            self._captures = []
        self._captures.append(cap)
        return cap

    def _stop_captures(self) -> None:
        """Stops every capture still running (at close; their errors are lost then)."""
        for cap in getattr(self, "_captures", ()):
            try:
                cap.stop()
            except OSError:
                pass


def _free(stem: str, ext: str) -> str:
    """`stem + ext`, or the first of `stem-2 + ext`, `stem-3 + ext`, ... that does not exist."""
    path, n = stem + ext, 1
    while os.path.exists(path):
        n += 1
        path = f"{stem}-{n}{ext}"
    return path
