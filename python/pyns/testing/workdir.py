"""A topology's own directory (``Topology.directory``): made under ``$TMPDIR``, removed with
the topology, and swept later when the process that made it died without removing it (by
SIGKILL, say).

The directory is a native ``TempDir``: removed by ``remove()`` or when the object goes, so a
Ctrl-C that cuts a teardown short cannot leave it behind. Its name carries the maker's pid
namespace and pid (``pyns-topology-<pidns>-<pid>-XXXXXX``): a later topology in the same pid
namespace removes the directories of makers that are gone (those it may: root's sweep takes
any user's, a user's only its own).
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from .. import _native

PREFIX = "pyns-topology-"


def make() -> _native.TempDir:
    """A new topology directory (mode 0700), after sweeping those of dead makers."""
    parent = tempfile.gettempdir()
    pidns = os.stat("/proc/self/ns/pid").st_ino
    _sweep(parent, pidns)
    return _native.TempDir(parent, f"{PREFIX}{pidns}-{os.getpid()}-")


def _sweep(parent: str, pidns: int) -> None:
    with contextlib.suppress(OSError), os.scandir(parent) as it:
        stale = [e.path for e in it if _dead_maker(e, pidns)]
    for path in stale:
        with contextlib.suppress(OSError):
            _native.remove_tree(path)


def _dead_maker(e: os.DirEntry[str], pidns: int) -> bool:
    parts = e.name[len(PREFIX) :].split("-")
    if not e.name.startswith(PREFIX) or len(parts) != 3 or parts[0] != str(pidns):
        return False
    if not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        pass  # alive under another user, or unreadable: not ours to judge
    return False
