"""Live topologies, visible from another shell (``pyns topology ls/exec``) and to the plugin.

Each open ``Topology`` with nodes holds a memfd named ``pyns-topology`` (close-on-exec) in
which it records its nodes as JSON lines: a header ``{"pyns-topology": 1, "pid": PID}``, then
one line per change, ``{"node": NAME, "kind": "host"|"router"|"switch", "fds": {"net": N, ...}}``
when a node is added and ``{"node": NAME, "removed": true}`` when it goes. The fd numbers are
the owner's descriptors of the node's namespaces: another process (root, or the same user)
opens ``/proc/PID/fd/N`` to join them. Appending makes adding the n-th node O(1), so building
10,000 hosts stays linear; a reader ignores a last line without its newline (still being
written). The log is compacted (rewritten in a new memfd put in place with ``dup2``, which
readers see whole or not at all) when removals make it twice as long as needed.

Nothing is named in the file system: the memfd and the namespaces vanish with the owner's
descriptors, on ``close()`` and when the process dies, even by SIGKILL. A reader finds the
topologies by scanning ``/proc/*/fd`` for links to ``/memfd:pyns-topology``.

The plugin also learns here about topologies that a test built itself: ``Topology.__exit__``
calls ``failing(t, exc)`` when an exception leaves the ``with`` block, before it tears down.
"""

from __future__ import annotations

import json
import os
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from .. import _native

if TYPE_CHECKING:
    from .nodes import _Node
    from .topology import Topology

__all__ = ["MEMFD_NAME", "Live", "Registry", "failing", "read", "scan", "track", "tracked"]

#: The name of the memfd of every live topology (``/proc/PID/fd/N -> /memfd:pyns-topology``).
MEMFD_NAME = "pyns-topology"
_LINK = f"/memfd:{MEMFD_NAME} (deleted)"

#: Called with a topology that an exception is about to tear down (set by the pytest plugin).
on_failure: Optional[Callable[[Topology, BaseException], None]] = None


def failing(t: Topology, exc: BaseException) -> None:
    """Tells the plugin (if it listens) that `exc` is leaving `t`'s ``with`` block."""
    if on_failure is not None:
        on_failure(t, exc)


def _kind(node: _Node) -> str:
    return "router" if getattr(node, "forwarding", False) else type(node).__name__.lower()


class Registry:
    """The memfd of one topology: made with its first node, closed with it (or when the
    topology goes away: the memfd is a native object, so a Ctrl-C that cuts ``close()`` short
    cannot leave its descriptor open)."""

    def __init__(self) -> None:
        self._memfd: Optional[_native.Memfd] = None
        self._entries: dict[str, str] = {}  # node name -> its line
        self._lines = 0

    @staticmethod
    def _new_memfd(body: str = "") -> _native.Memfd:
        head = json.dumps({"pyns-topology": 1, "pid": os.getpid()}) + "\n"
        return _native.Memfd(MEMFD_NAME, (head + body).encode())

    def add(self, node: _Node) -> None:
        """Records a new node (its kind and its namespaces' fd numbers), or a node's
        namespaces again when it made one more (the last record of a name counts)."""
        if self._memfd is None:
            self._memfd = self._new_memfd()
        fds = {kind: ns.fileno() for kind, ns in node._held.items()}  # none made for this
        line = json.dumps({"node": node.name, "kind": _kind(node), "fds": fds})
        self._entries[node.name] = line
        self._memfd.write((line + "\n").encode())
        self._lines += 1

    def remove(self, name: str) -> None:
        """Records that the node `name` is gone."""
        if self._memfd is None or self._entries.pop(name, None) is None:
            return
        if self._lines > 2 * len(self._entries) + 64:
            compact = self._new_memfd("".join(x + "\n" for x in self._entries.values()))
            self._memfd.replace(compact)  # atomic: readers open the old file or the new one
            compact.close()
            self._lines = len(self._entries)
        else:
            self._memfd.write((json.dumps({"node": name, "removed": True}) + "\n").encode())
            self._lines += 1

    def close(self) -> None:
        """Closes the memfd: the topology disappears from ``pyns topology ls``."""
        if self._memfd is not None:
            self._memfd.close()


@dataclass(frozen=True)
class Live:
    """A live topology seen from outside: its owner, its memfd and its nodes."""

    pid: int
    fd: int
    #: node name -> {"kind": ..., "fds": {ns kind: fd number}}, in creation order.
    nodes: dict[str, dict]

    def path(self, node: str, kind: str) -> str:
        """``/proc/PID/fd/N`` of `node`'s namespace of `kind`."""
        return f"/proc/{self.pid}/fd/{self.nodes[node]['fds'][kind]}"


def read(pid: int, fd: int) -> Optional[Live]:
    """The topology in memfd `fd` of process `pid`, or None if it is not one (any more).

    Raises:
        PermissionError: the process belongs to another user.
    """
    try:
        with open(f"/proc/{pid}/fd/{fd}", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    lines = data.split(b"\n")[:-1]  # a last line without its newline is being written
    try:
        head = json.loads(lines[0])
        if head.get("pyns-topology") != 1 or head.get("pid") != pid:
            return None  # not ours, or inherited by a child that did not exec
        nodes: dict[str, dict] = {}
        for raw in lines[1:]:
            entry = json.loads(raw)
            name = entry.pop("node")
            if entry.get("removed"):
                nodes.pop(name, None)
            else:
                nodes[name] = entry
    except (ValueError, KeyError, IndexError, AttributeError):
        return None
    return Live(pid, fd, nodes)


def _memfds(pid: int) -> Iterator[int]:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return
    for name in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") == _LINK:
                yield int(name)
        except OSError:
            continue


def scan(pid: Optional[int] = None) -> list[Live]:
    """The live topologies of every process this user may inspect (or of `pid` alone).

    Args:
        pid: only this process.

    Returns:
        ``Live`` topologies, by pid then fd.

    Raises:
        ProcessLookupError: `pid` does not exist.
        PermissionError: `pid` belongs to another user.
    """
    if pid is not None:
        if not os.path.exists(f"/proc/{pid}"):
            raise ProcessLookupError(f"no process {pid}")
        try:
            os.listdir(f"/proc/{pid}/fd")
        except PermissionError as e:
            raise PermissionError(
                e.errno, f"process {pid} belongs to another user: run as root", f"/proc/{pid}/fd"
            ) from None
        pids = [pid]
    else:
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    found = []
    for p in pids:
        for fd in sorted(_memfds(p)):
            try:
                live = read(p, fd)
            except PermissionError:
                if pid is not None:
                    raise
                continue
            if live is not None:
                found.append(live)
    return found


#: Every Topology not yet garbage-collected (the plugin reports those a test left open).
_all: weakref.WeakSet[Topology] = weakref.WeakSet()


def track(t: Topology) -> None:
    """Remembers `t` (weakly), so that the plugin can report it."""
    _all.add(t)


def tracked() -> list[Topology]:
    """The topologies made in this process and not yet garbage-collected."""
    return list(_all)
