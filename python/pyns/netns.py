"""Named network namespaces, compatible with iproute2's ``ip netns``.

A named namespace is a bind mount of its nsfs file on ``/run/netns/<name>``, which keeps it
alive with no process in it; ``/run/netns`` is made a shared mount point (as ``ip netns add``
does) so that the mounts are seen from every mount namespace. What ``pyns.netns.add`` makes,
``ip netns exec <name>`` can use, and ``pyns.netns.open`` opens what ``ip netns add`` made.

    ns = pyns.netns.add("blue")
    pyns.net.loopback_up(netns="blue")
    pyns.netns.remove("blue")
"""

from __future__ import annotations

import os
import warnings

from . import _native
from ._native import Namespace

__all__ = ["add", "exec_mount_namespace", "names", "open", "remove"]

RUN_DIR = _native.NETNS_DIR


def add(name: str) -> Namespace:
    """Creates a new network namespace named ``name``, like ``ip netns add``.

    Args:
        name: the name; a file name in ``/run/netns`` (not empty, ``.``, ``..``, no ``/``).

    Returns:
        A ``Namespace`` handle on it (close it when done; the name keeps the namespace alive).

    Raises:
        ValueError: a bad name.
        FileExistsError: a namespace of that name exists already.
        PermissionError: without root (CAP_SYS_ADMIN to create and mount namespaces).
    """
    return _native.netns_add(name)


def remove(name: str) -> None:
    """Removes the named network namespace, like ``ip netns delete``.

    The name goes away at once; the namespace itself dies when nothing else (a process in it,
    an open ``Namespace`` handle) holds it, and with it its links.

    Args:
        name: the name.

    Raises:
        ValueError: a bad name.
        FileNotFoundError: there is no namespace of that name.
        PermissionError: without root.
    """
    _native.netns_remove(name)


def names() -> list[str]:
    """The named network namespaces, like ``ip netns list``.

    Returns:
        The names in ``/run/netns``, sorted; empty when the directory does not exist.
    """
    try:
        return sorted(os.listdir(RUN_DIR))
    except FileNotFoundError:
        return []


def open(name: str) -> Namespace:  # noqa: A001 - the verb of the API, like os.open
    """Opens a named network namespace (made by pyns or by ``ip netns add``).

    Args:
        name: the name.

    Returns:
        A ``Namespace`` handle.

    Raises:
        ValueError: a bad name.
        FileNotFoundError: there is no namespace of that name (nothing is created).
    """
    return Namespace.open(_native.netns_path(name), "net")


def exec_mount_namespace(name: str, net: Namespace) -> Namespace:
    """The mount namespace ``ip netns exec NAME`` gives its program, for joining with `net`.

    As iproute2's ``netns_switch``: a new mount namespace made inside `net` (so nothing
    leaks into the caller's), ``/`` a recursive slave, a fresh sysfs of `net` on ``/sys``,
    and every entry of ``/etc/netns/NAME/`` bound over the same name in ``/etc`` (an entry
    that cannot be bound is skipped with a ``RuntimeWarning``, as ip warns and goes on).
    ``pyns.spawn``/``pyns.run`` with ``join={"net": NAME}`` (and no ``"mnt"``),
    ``pyns.enter(NAME)`` and ``pyns netns exec`` join it.

    Args:
        name: the namespace's name under ``/run/netns``.
        net: that namespace.

    Returns:
        A ``Namespace`` handle on the new mount namespace (it lives while something holds it).

    Raises:
        ValueError: a bad name.
        PermissionError: without CAP_SYS_ADMIN (ip netns exec needs root too).
    """
    mnt, skipped = _native.netns_exec_mnt(net, name)
    for entry in skipped:
        warnings.warn(
            f"Bind /etc/netns/{name}/{entry} -> /etc/{entry} failed", RuntimeWarning, stacklevel=3
        )
    return mnt


def is_name(target: object) -> bool:
    """Whether a namespace target is the name of a named network namespace (a str without
    ``/``, as ``pyns.target`` reads it)."""
    return isinstance(target, str) and "/" not in target
