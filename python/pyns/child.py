"""The namespace keywords that ``pyns.spawn`` and ``pyns.run`` share, checked and turned into
a native ``ChildSpec``."""

from __future__ import annotations

import os
from typing import Any, Mapping

from . import _native
from ._native import KINDS, Namespace
from .target import resolve

__all__ = ["child_spec"]


def _nanoseconds(name: str, seconds: float | None) -> int | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(seconds).__name__}")
    return seconds * 1_000_000_000 if isinstance(seconds, int) else round(seconds * 1e9)


def _join_handles(join: Mapping[str, Any] | None) -> tuple[list[Namespace], list[Namespace]]:
    """The namespaces to join as handles, and those of them opened here (to close)."""
    if join is None:
        return [], []
    if not isinstance(join, Mapping):
        raise TypeError("join must be a dict like {'net': target}, not " + type(join).__name__)
    handles: list[Namespace] = []
    opened: list[Namespace] = []
    try:
        for kind, target in join.items():
            if kind not in KINDS:
                raise ValueError(f"join: unknown namespace kind {kind!r}; expected one of {KINDS}")
            ns, fresh = resolve(target, kind, f"join[{kind!r}]")
            handles.append(ns)
            if fresh:
                opened.append(ns)
    except BaseException:
        for ns in opened:
            ns.close()
        raise
    return handles, opened


def child_spec(
    caller: str,
    cgroup: bool,
    ipc: bool,
    mnt: bool,
    net: bool,
    pid: bool,
    time: bool,
    user: bool,
    uts: bool,
    hostname: str | None,
    domainname: str | None,
    uid_map: Any,
    gid_map: Any,
    map_root: bool,
    setgroups: str,
    mount_proc: bool,
    init: bool,
    join: Mapping[str, Any] | None,
    monotonic: float | None,
    boottime: float | None,
    pdeathsig: int | None,
) -> tuple[_native.ChildSpec, list[Namespace]]:
    """Validates the namespace keywords of spawn/run; returns the spec and handles to close."""
    kinds = dict(cgroup=cgroup, ipc=ipc, mnt=mnt, net=net, pid=pid, time=time, user=user, uts=uts)
    flags = dict(kinds, map_root=map_root, mount_proc=mount_proc, init=init)
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{caller}() argument {name!r} must be a bool, not {type(value).__name__}")
    if hostname is not None or domainname is not None:
        kinds["uts"] = True
    if mount_proc:
        kinds["mnt"] = True
    if monotonic is not None or boottime is not None:
        kinds["time"] = True
    if map_root:
        if uid_map is not None or gid_map is not None:
            raise ValueError("map_root=True and uid_map/gid_map exclude each other")
        uid_map = [(0, os.geteuid(), 1)]
        gid_map = [(0, os.getegid(), 1)]
    if uid_map is not None or gid_map is not None:
        kinds["user"] = True
    if pdeathsig is None:
        pdeathsig = 0
    if isinstance(pdeathsig, bool) or not isinstance(pdeathsig, int):
        raise TypeError(f"pdeathsig must be a signal number or None, not {pdeathsig!r}")
    handles, opened = _join_handles(join)
    try:
        spec = _native.ChildSpec(
            new=[k for k in KINDS if kinds[k]],
            join=handles,
            hostname=hostname,
            domainname=domainname,
            uid_map=uid_map,
            gid_map=gid_map,
            setgroups=setgroups,
            mount_proc=mount_proc,
            init=init,
            monotonic_ns=_nanoseconds("monotonic", monotonic),
            boottime_ns=_nanoseconds("boottime", boottime),
            pdeathsig=int(pdeathsig),
        )
    except BaseException:
        for ns in opened:
            ns.close()
        raise
    return spec, opened
