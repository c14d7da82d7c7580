"""``pyns run`` (unshare(1) of util-linux 2.38+, always with ``--fork``) and ``pyns enter``
(nsenter(1)): their options, and how they become a ``pyns.spawn`` call.

What spawn does not do itself (a root or working directory change, setuid/setgid, ambient
capabilities, a propagation other than private, proc elsewhere than /proc, binding the new
namespaces to files before the program runs) is done by :mod:`pyns.cli_exec`, started as the
child's program in place of CMD, which then executes CMD.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import signal
import socket
import sys
from typing import Any

from ._native import KINDS, Namespace
from .cli_opts import OPTIONAL, REQUIRED, Opt, UsageError

__all__ = [
    "ENTER_OPTS",
    "ENTER_USAGE",
    "KIND_FLAGS",
    "RUN_OPTS",
    "RUN_USAGE",
    "Call",
    "enter_call",
    "persist_handshake",
    "run_call",
]

#: (short flag, long flag, kind) as unshare(1) and nsenter(1) spell them.
KIND_FLAGS = (
    ("m", "mount", "mnt"),
    ("u", "uts", "uts"),
    ("i", "ipc", "ipc"),
    ("n", "net", "net"),
    ("p", "pid", "pid"),
    ("U", "user", "user"),
    ("C", "cgroup", "cgroup"),
    ("T", "time", "time"),
)

_COMMON = [Opt("help", "h", "help"), Opt("version", "V", "version")]

RUN_USAGE = """\
Usage:
 pyns run [options] [--] [<program> [<argument>...]]

Run a program with some namespaces unshared from the parent (like `unshare --fork`).

Options:
 -m, --mount[=<file>]      unshare mounts namespace
 -u, --uts[=<file>]        unshare UTS namespace (hostname etc)
 -i, --ipc[=<file>]        unshare System V IPC namespace
 -n, --net[=<file>]        unshare network namespace
 -p, --pid[=<file>]        unshare pid namespace
 -U, --user[=<file>]       unshare user namespace
 -C, --cgroup[=<file>]     unshare cgroup namespace
 -T, --time[=<file>]       unshare time namespace
     --all                 unshare every kind the caller may create (with -r: a rootless
                           session with a fresh /proc and a private /run/netns)

 -f, --fork                accepted: pyns always forks
 --kill-child[=<signame>]  when pyns dies, kill the program (default SIGKILL)
 --mount-proc[=<dir>]      mount proc filesystem first (implies --mount)
 --map-user=<uid>|<name>   map current user to uid (implies --user)
 --map-group=<gid>|<name>  map current group to gid (implies --user)
 -r, --map-root-user       map current user to root (implies --user)
 -c, --map-current-user    map current user to itself (implies --user)
 --map-auto                map users and groups automatically (implies --user)
 --map-users=<inner>:<outer>:<count>  (or 2.38's <outer>,<inner>,<count>, or auto)
                           map count users from outer to inner (implies --user)
 --map-groups=<inner>:<outer>:<count> the same for groups
 --setgroups allow|deny    control the setgroups syscall in user namespaces
 --keep-caps               retain capabilities granted in user namespaces
 --propagation slave|shared|private|unchanged
                           modify mount propagation in mount namespace
 -R, --root=<dir>          run the command with root directory set to <dir>
 -w, --wd=<dir>            change working directory to <dir>
 -S, --setuid <uid>        set uid in entered namespace
 -G, --setgid <gid>        set gid in entered namespace
 --monotonic <offset>      set clock monotonic offset (seconds) in time namespaces
 --boottime <offset>       set clock boottime offset (seconds) in time namespaces
 --hostname <name>         the hostname in the new UTS namespace (implies -u)
 --init                    with -p: the program is PID 2 under pyns' init

 -h, --help                display this help
 -V, --version             display version
"""

RUN_OPTS = (
    [Opt(kind, short, None) for short, _, kind in KIND_FLAGS]
    + [Opt(kind, None, long, OPTIONAL) for _, long, kind in KIND_FLAGS]
    + [
        Opt("all", None, "all"),
        Opt("fork", "f", "fork"),
        Opt("kill_child", None, "kill-child", OPTIONAL, const="KILL"),
        Opt("mount_proc", None, "mount-proc", OPTIONAL, const="/proc"),
        Opt("map_user", None, "map-user", REQUIRED),
        Opt("map_group", None, "map-group", REQUIRED),
        Opt("map_user", "r", "map-root-user", const="0"),
        Opt("map_current", "c", "map-current-user"),
        Opt("map_auto", None, "map-auto"),
        Opt("map_users", None, "map-users", REQUIRED, many=True),
        Opt("map_groups", None, "map-groups", REQUIRED, many=True),
        Opt("setgroups", None, "setgroups", REQUIRED),
        Opt("keep_caps", None, "keep-caps"),
        Opt("propagation", None, "propagation", REQUIRED),
        Opt("root", "R", "root", REQUIRED),
        Opt("wd", "w", "wd", REQUIRED),
        Opt("setuid", "S", "setuid", REQUIRED),
        Opt("setgid", "G", "setgid", REQUIRED),
        Opt("monotonic", None, "monotonic", REQUIRED),
        Opt("boottime", None, "boottime", REQUIRED),
        Opt("hostname", None, "hostname", REQUIRED),
        Opt("init", None, "init"),
    ]
    + _COMMON
)

ENTER_USAGE = """\
Usage:
 pyns enter [options] [--] [<program> [<argument>...]]

Run a program with namespaces of other processes (like nsenter).

Options:
 -a, --all              enter all namespaces
 -t, --target <pid>     target process to get namespaces from
 -m, --mount[=<file>]   enter mount namespace
 -u, --uts[=<file>]     enter UTS namespace (hostname etc)
 -i, --ipc[=<file>]     enter System V IPC namespace
 -n, --net[=<file>]     enter network namespace
 -p, --pid[=<file>]     enter pid namespace
 -C, --cgroup[=<file>]  enter cgroup namespace
 -U, --user[=<file>]    enter user namespace
 -T, --time[=<file>]    enter time namespace
     --netns <name>     enter the network namespace /run/netns/<name> (ip netns)
 -S, --setuid <uid>     set uid in entered namespace
 -G, --setgid <gid>     set gid in entered namespace
     --preserve-credentials do not touch uids or gids
 -r, --root[=<dir>]     set the root directory
 -w, --wd[=<dir>]       set the working directory
 -W, --wdns <dir>       set the working directory in namespace
 -e, --env              inherit environment variables from target process
 -F, --no-fork          accepted: pyns always forks

 -h, --help             display this help
 -V, --version          display version
"""

ENTER_OPTS = (
    [Opt(kind, short, long, OPTIONAL) for short, long, kind in KIND_FLAGS]
    + [
        Opt("all", "a", "all"),
        Opt("target", "t", "target", REQUIRED),
        Opt("netns", None, "netns", REQUIRED),
        Opt("setuid", "S", "setuid", REQUIRED),
        Opt("setgid", "G", "setgid", REQUIRED),
        Opt("preserve", None, "preserve-credentials"),
        Opt("root", "r", "root", OPTIONAL),
        Opt("wd", "w", "wd", OPTIONAL),
        Opt("wdns", "W", "wdns", REQUIRED),
        Opt("env", "e", "env"),
        Opt("no_fork", "F", "no-fork"),
    ]
    + _COMMON
)

_PROPAGATIONS = ("slave", "shared", "private", "unchanged")


def _number(what: str, text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise UsageError(f"invalid {what} argument: '{text}'") from None
    if value < 0:
        raise UsageError(f"invalid {what} argument: '{text}'")
    return value


def _uid(text: str) -> int:
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        return _number("user", text)


def _gid(text: str) -> int:
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        return _number("group", text)


def _subid_range(path: str, what: str) -> tuple[int, int]:
    """The first range of this user in /etc/subuid or /etc/subgid: (start, count)."""
    from .machine import subid_range

    found = subid_range(path)
    if found is not None:
        return found
    uid = os.geteuid()
    raise UsageError(
        f"no line for {what} {uid} in {path}: add one (`usermod --add-subuids 100000-165535 "
        f"--add-subgids 100000-165535 USER`) or map single ids with -r/--map-user"
    )


def _ranges(specs: list[str], path: str, what: str) -> list[tuple[int, int, int]]:
    """``--map-users`` values: ``inner:outer:count`` (2.39+), ``outer,inner,count`` (2.38)."""
    out = []
    for spec in specs:
        if spec == "auto":
            start, count = _subid_range(path, what)
            out.append((0, start, count))
            continue
        sep = ":" if ":" in spec else ","
        parts = spec.split(sep)
        if len(parts) != 3:
            raise UsageError(f"invalid mapping '{spec}': expected inner:outer:count")
        a, b, count = (_number("mapping", p) for p in parts)
        out.append((a, b, count) if sep == ":" else (b, a, count))
    return out


def _signal(name: Any) -> int:
    text = str(name).upper()
    if text.isdigit():
        return int(text)
    try:
        return int(signal.Signals[text if text.startswith("SIG") else "SIG" + text])
    except KeyError:
        raise UsageError(f"unknown signal: {name}") from None


def _seconds(what: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"failed to parse {what} offset: '{text}'") from None


class Call:
    """What to start: spawn's keywords, the pre-exec steps, and files to bind namespaces to."""

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}
        self.steps: list[str] = []
        self.persist: dict[str, str] = {}
        self.fds: list[int] = []

    def argv(self, cmd: list[str], sync_fd: int | None) -> list[str]:
        """The child's program: CMD itself, or the pre-exec step in front of it."""
        steps = list(self.steps)
        if sync_fd is not None:
            steps += ["--sync", str(sync_fd), "--persist", ",".join(self.persist)]
        if not steps:
            return cmd
        return [sys.executable, "-I", "-m", "pyns.cli_exec", *steps, "--", *cmd]


def _all_kinds() -> list[str]:
    return [k for k in KINDS if os.path.exists(f"/proc/self/ns/{k}")]


def run_call(o: dict[str, Any]) -> Call:
    """Turns ``pyns run``'s parsed options into a Call, checking all of them first.

    Args:
        o: the options parsed with RUN_OPTS.

    Returns:
        The Call: spawn's keywords and the pre-exec steps.

    Raises:
        UsageError: a bad value or combination (util-linux's message).
    """
    c = Call()
    kinds = {kind: bool(o.get(kind)) for kind in KINDS}
    for kind in KINDS:
        if isinstance(o.get(kind), str):
            c.persist[kind] = o[kind]
    if o.get("all"):
        kinds.update({k: True for k in _all_kinds()})
    uid_map: list[tuple[int, int, int]] = []
    gid_map: list[tuple[int, int, int]] = []
    if o.get("map_current"):
        o.setdefault("map_user", str(os.geteuid()))
        o.setdefault("map_group", str(os.getegid()))
    if o.get("map_user") is not None:
        uid_map.append((_uid(o["map_user"]), os.geteuid(), 1))
        if o.get("map_user") == "0" and o.get("map_group") is None:
            o["map_group"] = "0"  # -r maps both
    if o.get("map_group") is not None:
        if o.get("setgroups") == "allow":
            raise UsageError("options --setgroups=allow and --map-group are mutually exclusive")
        gid_map.append((_gid(o["map_group"]), os.getegid(), 1))
    users = list(o.get("map_users", []))
    groups = list(o.get("map_groups", []))
    if o.get("map_auto"):
        users.append("auto")
        groups.append("auto")
    uid_map += _ranges(users, "/etc/subuid", "user")
    gid_map += _ranges(groups, "/etc/subgid", "group")
    if uid_map or gid_map:
        kinds["user"] = True
    if uid_map:
        c.kwargs["uid_map"] = uid_map
    if gid_map:
        c.kwargs["gid_map"] = gid_map
    if o.get("setgroups") is not None:
        if o["setgroups"] not in ("allow", "deny"):
            raise UsageError(f"unsupported --setgroups argument '{o['setgroups']}'")
        c.kwargs["setgroups"] = o["setgroups"]
    proc = o.get("mount_proc")
    if o.get("all") and kinds["pid"] and proc is None:
        proc = "/proc"  # the session's pids are the new namespace's: /proc must show them
    if proc is not None:
        kinds["mnt"] = True
    propagation = o.get("propagation")
    if propagation is not None and propagation not in _PROPAGATIONS:
        raise UsageError(f"unsupported propagation mode: {propagation}")
    if kinds["mnt"] and propagation in ("slave", "shared", "unchanged"):
        kinds["mnt"] = False  # made by the pre-exec step, which sets this propagation
        c.steps.append("--unshare-mnt")
        if propagation != "unchanged":
            c.steps += ["--propagation", propagation]
    if o.get("all") and kinds["net"] and (kinds["mnt"] or "--unshare-mnt" in c.steps):
        c.steps.append("--netns-tmpfs")
    for name in ("monotonic", "boottime"):
        if o.get(name) is not None:
            c.kwargs[name] = _seconds(name, o[name])
            kinds["time"] = True
    if o.get("hostname") is not None:
        c.kwargs["hostname"] = o["hostname"]
    if o.get("root") is not None:
        c.steps += ["--root", o["root"]]
    if o.get("wd") is not None:
        if c.steps or o.get("root") is not None:
            c.steps += ["--wd", o["wd"]]
        else:
            c.kwargs["cwd"] = o["wd"]
    simple_proc = proc == "/proc" and o.get("root") is None and "--unshare-mnt" not in c.steps
    if proc is not None and not simple_proc:
        c.steps += ["--mount-proc", proc]
    elif proc is not None:
        c.kwargs["mount_proc"] = True
    if o.get("setgid") is not None:
        c.steps += ["--setgid", str(_gid(o["setgid"]))]
    if o.get("setuid") is not None:
        c.steps += ["--setuid", str(_uid(o["setuid"]))]
    if o.get("keep_caps") and kinds["user"]:
        c.steps.append("--keep-caps")
    c.kwargs["pdeathsig"] = _signal(o["kill_child"]) if o.get("kill_child") else None
    c.kwargs["init"] = bool(o.get("init") or o.get("all"))
    if kinds["net"]:
        c.kwargs["loopback"] = False  # as util-linux unshare: lo stays down
    c.kwargs.update({k: v for k, v in kinds.items() if v})
    return c


def _open_dir(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def enter_call(o: dict[str, Any]) -> Call:
    """Turns ``pyns enter``'s parsed options into a Call.

    Args:
        o: the options parsed with ENTER_OPTS.

    Returns:
        The Call: spawn's ``join`` and the pre-exec steps (fds of -r/-w opened here).

    Raises:
        UsageError: a bad value, or a namespace with neither FILE nor -t.
        OSError: the -r/-w directory or the target's environ cannot be opened.
    """
    c = Call()
    target = _number("PID", o["target"]) if o.get("target") is not None else None
    join: dict[str, Any] = {}
    for kind in KINDS:
        value = o.get(kind)
        if isinstance(value, str):
            join[kind] = value if "/" in value else os.path.abspath(value)
        elif value or (o.get("all") and target is not None):
            if target is None:
                raise UsageError(f"neither filename nor target pid supplied for ns/{kind}")
            join[kind] = target
    if o.get("all") and target is not None:
        # as nsenter -a: the user namespace only when it differs from ours (else EINVAL)
        try:
            with Namespace.of(target, "user") as theirs, Namespace.current("user") as mine:
                if theirs == mine:
                    join.pop("user", None)
        except FileNotFoundError:
            pass
        for kind in [k for k in join if k != "user"]:
            if not os.path.exists(f"/proc/{target}/ns/{kind}"):
                join.pop(kind)
    if o.get("netns"):
        join["net"] = o["netns"]
    if not join and target is None and not o.get("netns"):
        raise UsageError("no namespace given: add -t PID and namespace flags (or -a)")
    c.kwargs["join"] = join
    c.kwargs["pdeathsig"] = None
    if o.get("env") and target is not None:
        with open(f"/proc/{target}/environ", "rb") as f:
            items = [kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv]
        c.kwargs["env"] = {k: v for k, v in items}
    for name, flag in (("root", "--root-fd"), ("wd", "--wd-fd")):
        value = o.get(name)
        if value is None:
            continue
        if value is True:
            if target is None:
                raise UsageError(f"neither filename nor target pid supplied for {name}")
            value = f"/proc/{target}/{'root' if name == 'root' else 'cwd'}"
        fd = _open_dir(value)
        c.fds.append(fd)
        c.steps += [flag, str(fd)]
    if o.get("wdns") is not None:
        c.steps += ["--wd", o["wdns"]]
    uid, gid = o.get("setuid"), o.get("setgid")
    if "user" in join and not o.get("preserve"):
        uid = "0" if uid is None else uid
        gid = "0" if gid is None else gid
    if gid is not None:
        c.steps += ["--setgid", str(_gid(gid))]
    elif uid is not None:
        c.steps.append("--clear-groups")
    if uid is not None:
        c.steps += ["--setuid", str(_uid(uid))]
    return c


def persist_handshake(sock: socket.socket, files: dict[str, str]) -> None:
    """The parent's side of --sync: binds the namespaces the child sent to their files.

    Args:
        sock: the parent's end of the socketpair.
        files: the file to bind each kind to.

    Raises:
        OSError: a bind failed (the child is told to stop).
    """
    msg, fds, _, _ = socket.recv_fds(sock, 1024, len(files))
    try:
        kinds = msg.decode().split(",") if msg else []
        if len(kinds) != len(fds):
            raise OSError(errno.EPIPE, "the child stopped before its namespaces were made")
        for kind, fd in zip(kinds, fds):
            with Namespace.open(f"/proc/self/fd/{fd}", kind) as ns:
                ns.persist(files[kind])
        sock.send(b"1")
    finally:
        for fd in fds:
            os.close(fd)

