"""Mounts: propagation, proc, bind, tmpfs, umount, and the parsed mount table.

Everything acts in the calling thread's mount namespace; use it inside
``pyns.isolate(mnt=True)`` (root) or in a ``pyns.run(..., user=True, mnt=True)`` child, so
that nothing reaches the host's mount table.
"""

from __future__ import annotations

import os
from typing import Literal, Union, cast

from . import _native
from ._native import MountInfo

__all__ = [
    "MountInfo",
    "bind",
    "make_private",
    "make_shared",
    "make_slave",
    "make_unbindable",
    "mounts",
    "parse_mountinfo",
    "proc",
    "propagation",
    "tmpfs",
    "umount",
]

PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
PropagationName = Literal["shared", "private", "slave", "unbindable"]


def _path(path: PathArg, what: str = "path") -> str:
    if isinstance(path, bool) or not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{what} must be a str, bytes or os.PathLike, not {type(path).__name__}")
    p = os.fsdecode(os.fspath(path))
    if not p:
        raise ValueError(f"{what} must not be empty")
    if "\0" in p:
        raise ValueError(f"{what} must not contain a NUL character")
    return p


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be a bool, not {type(value).__name__}")
    return value


def _set(path: PathArg, kind: str, recursive: bool) -> None:
    _native.mount_set_propagation(_path(path), kind, _bool(recursive, "recursive"))


def make_private(path: PathArg = "/", recursive: bool = True) -> None:
    """Make the mount at ``path`` private: mounts and unmounts propagate neither way.

    Args:
        path: a mount point (default ``/``).
        recursive: also every mount below it (``MS_REC``, like ``mount --make-rprivate``).

    Raises:
        OSError: EINVAL when ``path`` is not a mount point (the note suggests
            ``bind(path, path)`` first); PermissionError without CAP_SYS_ADMIN;
            FileNotFoundError for a missing path.
    """
    _set(path, "private", recursive)


def make_shared(path: PathArg = "/", recursive: bool = True) -> None:
    """Make the mount at ``path`` shared: mounts propagate both ways within its peer group.

    Args:
        path: a mount point (default ``/``).
        recursive: also every mount below it (``MS_REC``).

    Raises:
        OSError: as for ``make_private``.
    """
    _set(path, "shared", recursive)


def make_slave(path: PathArg = "/", recursive: bool = True) -> None:
    """Make the mount at ``path`` a slave: it receives mounts from its master, sends none.

    Args:
        path: a mount point (default ``/``); a shared mount becomes a slave of its former
            peer group, a private one stays private.
        recursive: also every mount below it (``MS_REC``).

    Raises:
        OSError: as for ``make_private``.
    """
    _set(path, "slave", recursive)


def make_unbindable(path: PathArg = "/", recursive: bool = True) -> None:
    """Make the mount at ``path`` unbindable: private, and it cannot be bind-mounted.

    Args:
        path: a mount point (default ``/``).
        recursive: also every mount below it (``MS_REC``).

    Raises:
        OSError: as for ``make_private``.
    """
    _set(path, "unbindable", recursive)


def propagation(path: PathArg) -> PropagationName:
    """The propagation type of the mount that ``path`` is on.

    Args:
        path: any path; its mount is found with statx(2) ``STATX_MNT_ID``.

    Returns:
        ``"shared"``, ``"private"``, ``"slave"`` or ``"unbindable"``; a mount that is both a
        slave and shared is ``"slave"`` (``mounts()`` shows both peer groups).

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    return cast(PropagationName, _native.mount_propagation(_path(path)))


def proc(target: PathArg = "/proc") -> None:
    """Mount a fresh proc filesystem (nosuid, nodev, noexec) at ``target``.

    It shows the processes of the calling thread's PID namespace, so mount it from a process
    inside a new PID namespace and a new mount namespace.

    Args:
        target: the mount point (default ``/proc``).

    Raises:
        PermissionError: without CAP_SYS_ADMIN over the mount namespace, or (in a user
            namespace) when the PID namespace is not owned by it.
        FileNotFoundError: ``target`` does not exist.
    """
    _native.mount_proc(_path(target, "target"))


def bind(src: PathArg, dst: PathArg, *, readonly: bool = False, recursive: bool = True) -> None:
    """Bind-mount ``src`` at ``dst`` (like ``mount --rbind``).

    Args:
        src: the file or directory to show at ``dst``.
        dst: an existing file or directory of the same type.
        readonly: make the new mount read-only (a second step, mount_setattr(2); the result
            is verified, and the bind is undone if it could not be made read-only).
        recursive: include the mounts below ``src`` (``MS_REC``); with ``readonly`` they are
            made read-only too.

    Raises:
        FileNotFoundError: ``src`` or ``dst`` is missing (``.filename`` says which).
        OSError: EINVAL when ``src`` is unbindable; PermissionError without CAP_SYS_ADMIN.
    """
    _native.mount_bind(
        _path(src, "src"),
        _path(dst, "dst"),
        _bool(readonly, "readonly"),
        _bool(recursive, "recursive"),
    )


def tmpfs(target: PathArg, size: Union[int, str, None] = None, *, mode: int | None = None) -> None:
    """Mount a new tmpfs at ``target``.

    Args:
        target: the mount point.
        size: the limit in bytes (int), or tmpfs' own form such as ``"16m"`` or ``"50%"``;
            None: the kernel's default (half of RAM).
        mode: permissions of its root directory, e.g. ``0o700`` (None: ``0o1777``).

    Raises:
        ValueError: a size that is not positive, or a mode above 0o7777.
        FileNotFoundError: ``target`` does not exist.
        PermissionError: without CAP_SYS_ADMIN over the mount namespace.
    """
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, str)):
            raise TypeError(f"size must be an int, a str or None, not {type(size).__name__}")
        if isinstance(size, int) and size <= 0:
            raise ValueError(f"tmpfs size must be a positive number of bytes, not {size}")
        size = str(size)
    if mode is not None:
        if isinstance(mode, bool) or not isinstance(mode, int):
            raise TypeError(f"mode must be an int or None, not {type(mode).__name__}")
        if not 0 <= mode <= 0o7777:
            raise ValueError(f"tmpfs mode must be between 0 and 0o7777, not {mode:#o}")
    _native.mount_tmpfs(_path(target, "target"), size, mode)


def umount(target: PathArg, lazy: bool = False) -> None:
    """Unmount the mount at ``target``.

    Args:
        target: a mount point.
        lazy: detach it now and clean up when it is no longer busy (``MNT_DETACH``).

    Raises:
        OSError: EINVAL when ``target`` is not a mount point, EBUSY when it is in use;
            FileNotFoundError for a missing path; PermissionError without CAP_SYS_ADMIN.
    """
    _native.mount_umount(_path(target, "target"), _bool(lazy, "lazy"))


def mounts(pid: int | None = None) -> list[MountInfo]:
    """The mount table, parsed from ``/proc/<pid>/mountinfo``.

    Args:
        pid: a process id; None (default) means the calling thread's mount namespace
            (``/proc/thread-self/mountinfo``, right inside ``pyns.isolate(mnt=True)``).

    Returns:
        One ``MountInfo`` per mount, in the kernel's order (parents before children).

    Raises:
        ProcessLookupError: no process ``pid``.
        ValueError: ``pid`` is not a positive process id.
    """
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
        raise TypeError(f"pid must be an int or None, not {type(pid).__name__}")
    return _native.mount_table(pid)


def parse_mountinfo(text: Union[str, bytes]) -> list[MountInfo]:
    """Parse text in the format of ``/proc/<pid>/mountinfo`` (proc_pid_mountinfo(5)).

    Args:
        text: the whole table; str is encoded with ``os.fsencode`` (surrogateescape).

    Returns:
        One ``MountInfo`` per non-empty line; octal escapes such as ``\\040`` are decoded.

    Raises:
        ValueError: a malformed line (the message names its number).
    """
    if isinstance(text, str):
        text = os.fsencode(text)
    if not isinstance(text, bytes):
        raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
    return _native.mount_parse(text)
