"""The child options: the namespace keywords that ``pyns.spawn``, ``pyns.run`` and
``Host.spawn/run`` share, declared once (:class:`ChildOptions`), checked and turned into a
native ``ChildSpec``.

Adding an option is one edit here: a field of ``ChildOptions`` (with its line in the
docstring); the functions that take options get it in their signature and help.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import signal
from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar, Union

from . import _native, netns
from ._native import KINDS, Namespace
from .creds import creds_keywords
from .target import resolve

__all__ = ["ChildOptions", "child_spec", "spec_of", "take_options", "takes_child_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: The largest time offset in nanoseconds that fits the kernel's (a signed 64-bit count).
_MAX_NS = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class ChildOptions:
    """The namespaces and identity of a child, as keywords of :func:`pyns.spawn`,
    :func:`pyns.run` and ``Host.spawn/run``.

    Attributes:
        cgroup, ipc, mnt, net, pid, time, user, uts: create a new namespace of that kind.
            With ``pid=True`` the child is PID 1 of it (see `init`). ``user`` given a user
            name (str) or uid (int, not bool) is subprocess's `user` instead (see below).
        hostname, domainname: set in the new UTS namespace (imply ``uts=True``).
        uid_map, gid_map: id maps for the new user namespace (imply ``user=True``):
            ``[(inside, outside, count), ...]``, kernel text or a :class:`pyns.IdMap`;
            multi-range maps go through newuidmap/newgidmap when unprivileged.
        map_root: map root inside to the caller's uid and gid (like ``unshare -r``).
        setgroups: ``"deny"`` (default, needed for an unprivileged gid map) or ``"allow"``.
        mount_proc: mount a fresh /proc inside (implies ``mnt=True``; use with ``pid=True``).
        init: with ``pid=True``, PID 1 is pyns' init, named ``pyns-init`` (reaps orphans,
            forwards signals, exits with the program's status) and the program is PID 2, its
            child; False: the program is PID 1.
        join: ``{"net": target, ...}``: start in existing namespaces; a target is a
            Namespace, Process, pid, nsfs path or (for net) an iproute2 netns name, joined as
            ``ip netns exec`` does unless ``"mnt"`` is joined too: in a new mount namespace
            with ``/etc/netns/NAME/*`` bound over ``/etc`` and a ``/sys`` of it. The user
            namespace is joined first when the others need its privileges (as nsenter), and
            not at all when it is the caller's own.
        monotonic, boottime: offsets in seconds of a new time namespace (imply ``time=True``).
        pdeathsig: signal the child gets when the thread that started it exits (default
            SIGKILL; None: none). Start it from a thread that outlives it.
        loopback: bring ``lo`` up in the new network namespace (default True; with
            ``net=True`` only).
        user, group, extra_groups, umask, start_new_session, process_group: as
            subprocess.Popen's, set by the child last before its program (after the chdir)
            or function runs, in Popen's order: umask, setsid, setpgid(0, process_group),
            setgroups(extra_groups), setresgid(group), setresuid(user). `user` is a user name
            or uid (``user=True/False`` is the namespace flag); `group` a group name or gid;
            names are looked up in the caller's passwd/group, and ids are those of the
            child's user namespace (a new one's maps imply it: ``map_root=True, user=0``).
            As with Popen, `user` alone keeps the supplementary groups: pass
            ``extra_groups=[]`` to drop them (in a new user namespace that needs
            ``setgroups="allow"``). ``process_group=0`` makes the child a group leader; a
            pid given is as seen in the child's pid namespace. ``umask=None`` (or -1)
            leaves the umask unchanged.
    """

    cgroup: bool = False
    ipc: bool = False
    mnt: bool = False
    net: bool = False
    pid: bool = False
    time: bool = False
    user: Union[bool, str, int] = False
    uts: bool = False
    hostname: Optional[str] = None
    domainname: Optional[str] = None
    uid_map: Any = None
    gid_map: Any = None
    map_root: bool = False
    setgroups: str = "deny"
    mount_proc: bool = False
    init: bool = True
    join: Optional[Mapping[str, Any]] = None
    monotonic: Optional[float] = None
    boottime: Optional[float] = None
    pdeathsig: Optional[int] = signal.SIGKILL
    loopback: bool = True
    group: Union[str, int, None] = None
    extra_groups: Optional[Iterable[Union[str, int]]] = None
    umask: Optional[int] = None
    start_new_session: bool = False
    process_group: Optional[int] = None


#: The option keywords, in declaration order.
OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ChildOptions))
_OPTIONS = frozenset(OPTION_NAMES)


def take_options(keywords: dict[str, Any]) -> dict[str, Any]:
    """Takes the option keywords out of `keywords` (the others stay there).

    Returns:
        The options given, by name (the keywords of :class:`ChildOptions`).
    """
    given: dict[str, Any] = {}
    for name in list(keywords):  # a loop, not comprehensions: see _SPECS
        if name in _OPTIONS:
            given[name] = keywords.pop(name)
    return given


def options_of(caller: str, keywords: dict[str, Any]) -> dict[str, Any]:
    """:func:`take_options` of `keywords`, all of which must be options.

    Raises:
        TypeError: a keyword that is no option, naming `caller`'s keywords.
    """
    given = take_options(keywords)
    if keywords:
        name = next(iter(keywords))
        raise TypeError(
            f"{caller}() got an unexpected keyword argument {name!r}; its child options are "
            + ", ".join(OPTION_NAMES)
        )
    return given


def takes_child_options(func: F) -> F:
    """Publishes the child options as keyword-only parameters of `func` (which takes them as
    ``**options``, or as part of its ``**kwargs``), for help() and inspect.signature.

    Returns:
        `func`, with ``__signature__`` set.
    """
    sig = inspect.signature(func)
    own = list(sig.parameters.values())
    var_kw = [p for p in own if p.kind is inspect.Parameter.VAR_KEYWORD]
    before = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    options = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
        for f in dataclasses.fields(ChildOptions)
    ]
    passes_on = [p for p in var_kw if p.name != "options"]  # run's **kwargs go on to fn
    func.__signature__ = sig.replace(parameters=before + options + passes_on)  # type: ignore[attr-defined]
    return func


def _nanoseconds(name: str, seconds: float | None) -> int | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(seconds).__name__}")
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise ValueError(f"{name} must be a finite number of seconds, not {seconds}")
    if abs(seconds) > _MAX_NS / 1e9:  # exact for any int, no overflow
        raise ValueError(f"{name} = {seconds} s is out of range (about ±292 years at most)")
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
        if netns.is_name(join.get("net")) and "mnt" not in join:  # as `ip netns exec NAME`
            mnt = netns.exec_mount_namespace(join["net"], handles[list(join).index("net")])
            handles.append(mnt)
            opened.append(mnt)
    except BaseException:
        for ns in opened:
            ns.close()
        raise
    return handles, opened


#: The specs of option sets that stand for themselves (by (name, type, value) of each option
#: given): a caller that starts children in a loop builds and checks its spec once. Building
#: one runs much Python, and in a process that forks often every page that code writes costs
#: a page fault (a fork makes them all copy-on-write).
_SPECS: dict[tuple[tuple[str, type, Any], ...], _native.ChildSpec] = {}
#: The most specs kept (then all are dropped).
_MAX_SPECS = 64
#: The value types of options that stand for themselves: but the spec of ``join`` depends on
#: the namespaces opened, ``map_root=True``'s on the caller's euid, a user or group name's on
#: the passwd/group files.
_PLAIN = (bool, int, float, str, type(None))
_LOOKED_UP = ("user", "group", "extra_groups")


def _plain_key(given: dict[str, Any]) -> tuple[tuple[str, type, Any], ...] | None:
    """The key of `given` in ``_SPECS``; None if its spec depends on more than its values."""
    key = []
    for name, value in given.items():
        kind = type(value)
        if kind not in _PLAIN or (name == "map_root" and value) or (kind is str and name in _LOOKED_UP):
            return None
        key.append((name, kind, value))
    return tuple(key)


def spec_of(caller: str, given: dict[str, Any]) -> tuple[_native.ChildSpec, list[Namespace]]:
    """:func:`child_spec` of the options `given` (as :func:`take_options` returns them),
    built once for options that stand for themselves.

    Raises:
        TypeError, ValueError: as child_spec.
    """
    key = _plain_key(given)
    spec = None if key is None else _SPECS.get(key)
    if spec is not None:
        return spec, []
    spec, opened = child_spec(caller, ChildOptions(**given))
    if key is not None:
        if len(_SPECS) >= _MAX_SPECS:
            _SPECS.clear()
        _SPECS[key] = spec
    return spec, opened


def child_spec(caller: str, o: ChildOptions) -> tuple[_native.ChildSpec, list[Namespace]]:
    """Validates the child options of `caller`; returns the spec and handles to close.

    Raises:
        TypeError, ValueError: a bad option, naming it (before anything is opened).
    """
    kinds = {k: getattr(o, k) for k in KINDS}
    if not isinstance(o.user, bool):  # a user name or uid: subprocess's user= (see creds)
        kinds["user"] = False
    flags = dict(kinds, map_root=o.map_root, mount_proc=o.mount_proc, init=o.init, loopback=o.loopback)
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{caller}() argument {name!r} must be a bool, not {type(value).__name__}")
    if o.hostname is not None or o.domainname is not None:
        kinds["uts"] = True
    if o.mount_proc:
        kinds["mnt"] = True
    if o.monotonic is not None or o.boottime is not None:
        kinds["time"] = True
    uid_map, gid_map = o.uid_map, o.gid_map
    if o.map_root:
        if uid_map is not None or gid_map is not None:
            raise ValueError("map_root=True and uid_map/gid_map exclude each other")
        uid_map = [(0, os.geteuid(), 1)]
        gid_map = [(0, os.getegid(), 1)]
    if uid_map is not None or gid_map is not None:
        kinds["user"] = True
    pdeathsig = 0 if o.pdeathsig is None else o.pdeathsig
    if isinstance(pdeathsig, bool) or not isinstance(pdeathsig, int):
        raise TypeError(f"pdeathsig must be a signal number or None, not {pdeathsig!r}")
    if not 0 <= pdeathsig <= 64:
        raise ValueError(f"pdeathsig must be a signal number (1-64) or None, not {pdeathsig}")
    creds = creds_keywords(
        user=o.user,
        group=o.group,
        extra_groups=o.extra_groups,
        umask=o.umask,
        start_new_session=o.start_new_session,
        process_group=o.process_group,
        new_user_namespace=kinds["user"],
        setgroups=o.setgroups,
    )
    monotonic_ns = _nanoseconds("monotonic", o.monotonic)
    boottime_ns = _nanoseconds("boottime", o.boottime)
    handles, opened = _join_handles(o.join)
    try:
        spec = _native.ChildSpec(
            new=[k for k in KINDS if kinds[k]],
            join=handles,
            hostname=o.hostname,
            domainname=o.domainname,
            uid_map=uid_map,
            gid_map=gid_map,
            setgroups=o.setgroups,
            mount_proc=o.mount_proc,
            init=o.init,
            monotonic_ns=monotonic_ns,
            boottime_ns=boottime_ns,
            pdeathsig=int(pdeathsig),
            loopback=o.loopback,
            **creds,
        )
    except BaseException:
        for ns in opened:
            ns.close()
        raise
    return spec, opened
