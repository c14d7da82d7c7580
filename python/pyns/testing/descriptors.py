"""File descriptors of a ``Topology``: each node is held by a few (its namespaces and a netlink
socket inside), so a big topology needs more than the usual soft limit of 1,024.

Before a node is made, ``Descriptors.reserve`` makes sure the process may open what it will
hold: it raises the soft ``RLIMIT_NOFILE`` up to the hard limit when the room left is short,
and refuses (``EMFILE``, before anything of the node exists) when even the hard limit is. The
room is counted in ``/proc/self/fd`` only when the estimate kept since the last count runs
out, so adding a node takes constant time however many the process holds.
"""

from __future__ import annotations

import errno
import os
import resource
from typing import Optional

__all__ = ["PER_NODE", "Descriptors"]

#: The most a node holds: net, uts and mnt namespaces and a netlink socket.
PER_NODE = 4
#: Descriptors left free for the rest of the program (pipes and pidfds of spawned programs).
SPARE = 32


def _open() -> Optional[int]:
    """How many descriptors the process has open; None without /proc."""
    try:
        with os.scandir("/proc/self/fd") as it:
            return sum(1 for _ in it) - 1  # the directory's own
    except OSError:
        return None


class Descriptors:
    """The room for the descriptors of one topology's nodes (see the module)."""

    def __init__(self) -> None:
        self._room = 0  # descriptors surely free, as of the last count minus what was taken

    def reserve(self, nodes: int) -> None:
        """Makes room for the descriptors of one more node, raising the soft limit if need be.

        Args:
            nodes: how many nodes the topology has already (for the error).

        Raises:
            OSError: ``EMFILE``: even the hard limit leaves no room; the message names the
                limit, how many descriptors the topology needs, and ``ulimit -n``.
        """
        need = PER_NODE + SPARE
        if self._room < need:
            self._room = self._count(need, nodes + 1)
        self._room -= PER_NODE

    def _count(self, need: int, nodes: int) -> int:
        """The room there is now, after raising the soft limit to the hard one if it is short."""
        used = _open()
        if used is None:  # nothing to count with: let the kernel say EMFILE if it must
            return 1 << 30
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft - used < need and soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        if soft - used >= need:
            return soft - used
        wanted = used + need
        err = OSError(
            errno.EMFILE,
            f"too many open files: this topology of {nodes:,} nodes needs up to "
            f"{nodes * PER_NODE:,} file descriptors ({PER_NODE} per node), the process has "
            f"{used:,} open and keeps {SPARE} spare, but RLIMIT_NOFILE allows {hard:,} (the "
            "hard limit; `ulimit -n` shows the soft one, `ulimit -Hn` the hard one)",
        )
        step = f"make room for the file descriptors of node number {nodes:,}"
        hint = (
            f"raise the limit before starting Python: `ulimit -n {_round_up(wanted)}` in the "
            "shell (as root, or up to what /etc/security/limits.conf allows), LimitNOFILE= "
            "for a systemd unit, --ulimit nofile= for a container"
        )
        err.step = step  # type: ignore[attr-defined]
        err.hint = hint  # type: ignore[attr-defined]
        note = f"pyns was doing: {step}\n{hint}"
        if hasattr(err, "add_note"):
            err.add_note(note)
        else:  # before Python 3.11
            err.__notes__ = [note]  # type: ignore[attr-defined]
        raise err


def _round_up(n: int) -> int:
    """`n` rounded up to a round number of descriptors to suggest."""
    step = 1024 if n < 65536 else 65536
    return -(-n // step) * step
