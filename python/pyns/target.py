"""The one resolver of "a namespace target", for every API that takes one.

A target names namespaces: a ``pyns.Namespace``; a pid (``/proc/<pid>/ns/<kind>``, where the
process lives); a ``pyns.Process`` or a testing ``Host`` (the handles in its ``namespaces``);
an nsfs path; or the name of a named network namespace (``"blue"``, see ``pyns.netns``).
``pyns.enter``, ``join=`` of ``spawn``/``run``, ``netns=`` of ``pyns.net`` and the CLI all
resolve targets here (``netns=`` through the same native resolver).
"""

from __future__ import annotations

import os
from typing import Any, Union

from . import _native
from ._native import KINDS, Namespace

__all__ = ["Target", "resolve", "resolve_kinds"]

Target = Union[int, Namespace, str, bytes, "os.PathLike[str]", Any]

# The kinds this kernel has (a kernel without time namespaces lacks /proc/self/ns/time).
_HERE = tuple(k for k in KINDS if os.path.exists(f"/proc/self/ns/{k}"))


def resolve(target: Target, kind: str | None = None, what: str = "target") -> tuple[Namespace, bool]:
    """The namespace of `kind` that `target` names.

    Args:
        target: see the module.
        kind: a kind name; None means the one namespace a handle, path or name stands for.
        what: the argument's name, for error messages (``"join['net']"``).

    Returns:
        ``(namespace, opened)``: ``opened`` is True when the handle was opened here (the
        caller closes it), False when it is the caller's own or one a Process/Host keeps.

    Raises:
        TypeError: a target of another type.
        ValueError: a handle of another kind, a bad name, a process without `kind`.
        pyns.NotANamespaceError: the path is not a namespace file (a ValueError too).
        OSError: the namespace cannot be opened (ProcessLookupError/FileNotFoundError, ...).
    """
    return _native.resolve_namespace(target, kind, what)


def resolve_kinds(
    target: Target, kinds: list[str], what: str = "target", *, user: bool = False
) -> list[Namespace]:
    """The namespaces of `target` for `kinds`; with no kinds, those the target stands for: a
    handle, path or name its one namespace, a process every kind in which it differs from the
    calling thread (user only if `user`, as a thread cannot join one for a block).

    Args:
        target: see the module.
        kinds: kind names.
        what: the argument's name, for error messages.
        user: with no kinds, include the user namespace.

    Returns:
        Handles; those opened here are closed when dropped (or by the caller).

    Raises:
        As ``resolve``.
    """
    if kinds or isinstance(target, (Namespace, str, bytes, os.PathLike)):
        if not kinds:
            return [resolve(target, None, what)[0]]
        if len(kinds) > 1 and isinstance(target, (Namespace, str, bytes, os.PathLike)):
            raise ValueError(f"{what} names one namespace; kinds {kinds} can't all apply")
        return [resolve(target, kind, what)[0] for kind in kinds]
    out: list[Namespace] = []
    for kind in _HERE:
        if kind == "user" and not user:
            continue
        theirs, opened = resolve(target, kind, what)
        with Namespace.current(kind) as mine:
            if theirs != mine:
                out.append(theirs)
            elif opened:
                theirs.close()
    return out
