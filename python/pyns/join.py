"""Joining existing namespaces (``pyns.enter``) and snapshots of a thread's (``namespaces``)."""

from __future__ import annotations

import os
from typing import Dict

from . import _native, netns
from ._native import KINDS, Namespace, Switch
from .errors import UnsupportedError
from .target import Target, resolve_kinds

__all__ = ["Namespaces", "enter", "namespaces"]

class Namespaces(Dict[str, Namespace]):
    """A snapshot of a process's namespaces by kind: a plain dict, shown in Jupyter as a table
    of kind, inode and whether each is the host's."""

    def _repr_html_(self) -> str:
        from .display import namespaces_html

        return namespaces_html(self)


def namespaces(pid: int | None = None) -> Namespaces:
    """All namespaces of a process, by kind.

    Args:
        pid: a process id; None (default) means the calling thread.

    Returns:
        ``{"cgroup": Namespace, ..., "uts": Namespace}`` for every kind the kernel has (a
        ``dict`` subclass whose ``_repr_html_`` is a table for Jupyter).

    Raises:
        ProcessLookupError: no such process (FileNotFoundError from /proc is translated).
        PermissionError: not allowed to open another user's namespace files.
    """
    out = Namespaces()
    for kind in KINDS:
        try:
            out[kind] = Namespace.current(kind) if pid is None else Namespace.of(pid, kind)
        except FileNotFoundError:
            if pid is not None and not os.path.exists(f"/proc/{pid}"):
                for ns in out.values():
                    ns.close()
                raise ProcessLookupError(3, f"no process with pid {pid}") from None
            continue  # a kind this kernel lacks
    return out


def enter(target: Target, **kinds: bool) -> Switch:
    """Join existing namespaces on the calling thread for a ``with`` block (like nsenter).

    Args:
        target: a pid, a ``pyns.Process`` (or testing ``Host``), a ``Namespace``, an nsfs
            path, or the name of a named network namespace (see ``pyns.target``).
        **kinds: ``net=True, uts=True, ...``; with none, every kind in which the target
            differs from the calling thread (never ``user``).

    Joining ``mnt`` gives the thread its own filesystem context (cwd, root, umask) for good,
    as setns(2) requires; its cwd is restored on exit.

    A named network namespace (``enter("blue")``, no kinds or ``net=True`` only) is entered
    as ``ip netns exec blue`` would: the thread also joins a new mount namespace, made for
    this block, with ``/etc/netns/blue/*`` bound over ``/etc`` and a ``/sys`` of that
    network namespace; nothing is mounted in the caller's mount namespace, and on exit the
    thread is back in its own.

    Returns:
        A context manager; on exit the thread is back in the namespaces it had.

    Raises:
        TypeError: an unknown keyword or a bad target type.
        ValueError: kinds that the target cannot have; pyns.NotANamespaceError for a path
            that is not a namespace file.
        pyns.UnsupportedError: ``user=True`` (a thread cannot leave a user namespace).
        OSError: the target cannot be opened or joined (with a note saying which step).
    """
    for kind, value in kinds.items():
        if kind not in KINDS:
            raise TypeError(f"enter() got an unexpected keyword argument {kind!r}")
        if not isinstance(value, bool):
            raise TypeError(f"enter() argument {kind!r} must be a bool, not {type(value).__name__}")
    if kinds.get("user"):
        raise UnsupportedError(
            "enter(user=True) is not possible: a thread cannot leave a user namespace again. "
            "Start a child there instead: pyns.spawn(args, join={'user': target, ...})."
        )
    wanted = [k for k in KINDS if kinds.get(k)]
    handles = resolve_kinds(target, wanted)
    if netns.is_name(target) and wanted in ([], ["net"]):
        handles.append(netns.exec_mount_namespace(target, handles[0]))
    return _native.Switch(handles)
