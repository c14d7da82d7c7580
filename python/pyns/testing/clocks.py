"""Clock offsets of a ``Topology`` host: CLOCK_MONOTONIC and CLOCK_BOOTTIME shifted through
time namespaces (time_namespaces(7)), as for ``pyns.spawn(monotonic=, boottime=)``.

Every program the host spawns (and every ``host.run`` child) starts in a new time namespace
whose offsets pyns writes to ``/proc/<pid>/timens_offsets`` before the program runs (a time
namespace's offsets are fixed once a process is in it), all with the host's offsets: programs
of one host see the same clocks, those of another host (or the caller) other ones.
CLOCK_REALTIME (the wall clock, ``time.time()``) is not namespaced by the kernel: it is the
same everywhere and cannot be shifted per host.
"""

from __future__ import annotations

from typing import Optional

from ..child import _nanoseconds


def offsets(monotonic: Optional[float], boottime: Optional[float]) -> dict[str, float]:
    """The keywords of ``pyns.spawn`` that give a host's programs its clocks.

    Args:
        monotonic: seconds added to CLOCK_MONOTONIC, or None.
        boottime: seconds added to CLOCK_BOOTTIME (``/proc/uptime``), or None.

    Returns:
        ``{"monotonic": ..., "boottime": ...}`` for the offsets given.

    Raises:
        TypeError: an offset that is not a number.
        ValueError: an offset that is not finite or out of range.
    """
    out = {}
    for name, value in (("monotonic", monotonic), ("boottime", boottime)):
        if value is not None:
            _nanoseconds(name, value)
            out[name] = value
    return out
