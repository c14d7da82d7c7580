"""``pyns tour``: the classic namespace experiments, end to end, each with what it shows.

Every experiment runs in children (``pyns.run``), so the calling process never changes. As
root they use the namespaces directly; otherwise each child first makes a user namespace of
its own (``user=True, map_root=True``), which is all an unprivileged user needs, and the few
steps that need real root on the host say why they were skipped.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterator

from . import mount, net
from . import netns as named
from ._native import Isolation, capabilities
from .call import run

__all__ = ["Check", "tour"]

#: The ✓/✗/– marks of the output.
_MARK = {True: "✓", False: "✗", None: "–"}


@dataclass
class Check:
    """One step of the tour: what it looked at, inside and outside, and whether it held.

    Attributes:
        experiment: ``"UTS"``, ``"IPC"``, ...
        what: the property looked at.
        inside, outside: what the child saw, and what the host (this process) sees.
        ok: True (it held), False (it did not), None (skipped).
        why: for a skip or failure, the reason.
    """

    experiment: str
    what: str
    inside: str = ""
    outside: str = ""
    ok: bool | None = True
    why: str = ""


class _Skip(Exception):
    """A step that cannot run here; the message says why."""


#: Keywords that give an unprivileged child the privileges it needs (its own user namespace).
_ROOTLESS = {"user": True, "map_root": True}

# ---------------------------------------------------------------------------------------------
# The experiments. Each child function runs inside the new namespaces and returns plain data.


def _hostname() -> str:
    return socket.gethostname()


def _uts(u: dict[str, Any]) -> Iterator[Check]:
    inside = run(_hostname, uts=True, hostname="NewNamespace", **u)
    outside = socket.gethostname()
    yield Check("UTS", "hostname", inside, outside, inside == "NewNamespace" != outside)


_libc = ctypes.CDLL(None, use_errno=True)
_IPC_PRIVATE, _IPC_RMID = 0, 0


def _message_queues() -> list[int]:
    with open("/proc/sysvipc/msg") as f:
        return [int(line.split()[1]) for line in f.readlines()[1:]]


def _ipc(u: dict[str, Any]) -> Iterator[Check]:
    qid = _libc.msgget(_IPC_PRIVATE, 0o600)
    if qid < 0:
        raise OSError(ctypes.get_errno(), "msgget(IPC_PRIVATE)")
    try:
        inside = run(_message_queues, ipc=True, **u)
        outside = _message_queues()
    finally:
        _libc.msgctl(qid, _IPC_RMID, None)
    yield Check(
        "IPC",
        f"a System V message queue made on the host (id {qid})",
        f"{len(inside)} queues, ours {'visible' if qid in inside else 'invisible'}",
        f"{len(outside)} queues, ours {'visible' if qid in outside else 'invisible'}",
        qid in outside and qid not in inside,
    )


def _proc_pids() -> list[int]:
    return sorted(int(e) for e in os.listdir("/proc") if e.isdigit())


def _pid(u: dict[str, Any]) -> Iterator[Check]:
    inside = run(os.getpid, pid=True, init=False, **u)
    yield Check("PID", "the program's pid", str(inside), str(os.getpid()), inside == 1)
    pids = run(_proc_pids, pid=True, mount_proc=True, **u)
    yield Check(
        "PID",
        "processes in a fresh /proc",
        f"{pids} (pyns' init and the program)",
        f"{len(_proc_pids())} processes",
        pids == [1, 2],
    )


def _mount_inside(path: str) -> tuple[list[str], str]:
    mount.tmpfs(path, size="1m")
    with open(os.path.join(path, "made-inside"), "w") as f:
        f.write("hello\n")
    fstype = next(m.fstype for m in mount.mounts() if m.mount_point == path)
    return sorted(os.listdir(path)), fstype


def _mnt(u: dict[str, Any]) -> Iterator[Check]:
    path = tempfile.mkdtemp(prefix="pyns-tour-")
    try:
        files, fstype = run(_mount_inside, path, mnt=True, **u)
        outside = sorted(os.listdir(path))
        mounted = any(m.mount_point == path for m in mount.mounts())
    finally:
        os.rmdir(path)
    yield Check(
        "mount",
        f"a tmpfs mounted on {path}",
        f"{fstype} with {files}",
        f"{'mounted' if mounted else 'not mounted'}, files {outside}",
        files == ["made-inside"] and fstype == "tmpfs" and not outside and not mounted,
    )


def _link_names() -> list[str]:
    return [link.name for link in net.links()]


def _veth_and_tcp() -> tuple[list[str], list[str], bytes]:
    """In a fresh netns A: a second netns B, a veth pair between them, a TCP connection."""
    with Isolation(net=True) as iso:
        b = iso.namespaces["net"]
        server = socket.socket()  # made in B: it stays there
    try:
        net.veth("veth-a", "veth-b", peer_netns=b)
        net.add_addr("veth-a", "10.200.0.1/24")
        net.add_addr("veth-b", "10.200.0.2/24", netns=b)
        net.set_link("veth-a", up=True)
        net.set_link("veth-b", up=True, netns=b)
        server.bind(("10.200.0.2", 0))
        server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=5)
        conn, _ = server.accept()
        with client, conn:
            client.sendall(b"hello across the veth")
            message = conn.recv(100)
        found = net.addrs("veth-a") + net.addrs("veth-b", netns=b)
        addrs = [a.cidr for a in found if a.family == "inet"]
        routes = [f"{r.dst} dev {r.dev}" for r in net.routes() if r.family == "inet"]
        return addrs, routes, message
    finally:
        server.close()
        b.close()


def _ip_netns_list() -> list[str]:
    if shutil.which("ip") is None:
        raise _Skip("iproute2's `ip` is not installed")
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def _net(u: dict[str, Any], root: bool) -> Iterator[Check]:
    inside = run(_link_names, net=True, **u)
    outside = _link_names()
    yield Check(
        "network", "interfaces", str(inside), f"{len(outside)}: {', '.join(outside)}",
        inside == ["lo"],
    )  # fmt: skip
    addrs, routes, message = run(_veth_and_tcp, net=True, **u)
    host_routes = [f"{r.dst} dev {r.dev}" for r in net.routes() if r.family == "inet"]
    here = "veth-a" in _link_names()
    yield Check(
        "network",
        "a veth pair between two new namespaces, TCP across it",
        f"{addrs}, received {message.decode()!r}",
        "veth-a is here too (?)" if here else "no veth-a, no 10.200.0.x here",
        message == b"hello across the veth" and not here,
    )
    yield Check(
        "network",
        "the routing table",
        f"{routes}",
        f"{len(host_routes)} IPv4 routes, none to 10.200.0.0/24",
        "10.200.0.0/24 dev veth-a" in routes and not any("10.200.0." in r for r in host_routes),
    )
    what = "a named namespace, seen by `ip netns`"
    if not root:
        raise _Skip(f"{what}: needs root (/run/netns belongs to root)")
    name = f"pyns-tour-{os.getpid()}"
    named.add(name).close()
    try:
        listed = _ip_netns_list()
        links = [link.name for link in net.links(netns=name)]
    finally:
        named.remove(name)
    yield Check(
        "network", what, f"{name}: {links}", f"ip netns list: {listed}", name in listed
    )


def _ids_and_caps() -> tuple[int, int, bool]:
    return os.getuid(), os.getgid(), "cap_sys_admin" in capabilities().effective


def _create(path: str) -> int:
    with open(path, "w") as f:
        f.write("made inside a user namespace\n")
    return os.stat(path).st_uid


def _user(root: bool) -> Iterator[Check]:
    uid, gid, _ = run(_ids_and_caps, user=True)
    yield Check(
        "user", "ids without a map", f"uid={uid} gid={gid}", f"uid={os.getuid()}",
        uid == 65534,
    )  # fmt: skip
    uid, _, admin = run(_ids_and_caps, user=True, map_root=True)
    mine = capabilities().effective
    yield Check(
        "user",
        "root inside with map_root; its capabilities",
        f"uid={uid}, cap_sys_admin: {admin}",
        f"uid={os.getuid()}, {len(mine)} effective capabilities",
        uid == 0 and admin,
    )
    # As root, map root inside to an unused uid to make the translation visible.
    outer = 12345 if root else os.getuid()
    keywords: dict[str, Any] = (
        {"uid_map": [(0, outer, 1)], "gid_map": [(0, outer, 1)]} if root else {"map_root": True}
    )
    d = tempfile.mkdtemp(prefix="pyns-tour-")
    try:
        os.chmod(d, 0o1777)
        path = os.path.join(d, "made-inside")
        inside = run(_create, path, user=True, **keywords)
        owner = os.stat(path).st_uid
    finally:
        shutil.rmtree(d)
    yield Check(
        "user",
        f"owner of a file created inside (root inside = uid {outer} outside)",
        f"uid {inside}",
        f"uid {owner}",
        inside == 0 and owner == outer,
    )


def _cgroup_lines() -> list[str]:
    with open("/proc/thread-self/cgroup") as f:
        return f.read().split()


def _into_cgroup(procs: str) -> tuple[str, str]:
    with open(procs, "w") as f:
        f.write(str(os.getpid()))
    before = [line for line in _cgroup_lines() if line.startswith("0::")][0]
    with Isolation(cgroup=True):
        after = [line for line in _cgroup_lines() if line.startswith("0::")][0]
    return before, after


def _cgroup2_mount() -> str | None:
    return next((m.mount_point for m in mount.mounts() if m.fstype == "cgroup2"), None)


def _cgroup(u: dict[str, Any], root: bool) -> Iterator[Check]:
    inside = run(_cgroup_lines, cgroup=True, **u)
    outside = _cgroup_lines()
    moved = [line for line in outside if not line.endswith(":/")]
    yield Check(
        "cgroup",
        "the cgroup paths of /proc/self/cgroup",
        "all '/'" if all(line.endswith(":/") for line in inside) else str(inside),
        ", ".join(moved) if moved else "all '/' too: this process is in the root cgroups",
        all(line.endswith(":/") for line in inside),
    )
    what = "a process moved into a fresh cgroup"
    if not root:
        raise _Skip(f"{what}: needs root (creating a cgroup under /sys/fs/cgroup)")
    top = _cgroup2_mount()
    if top is None:
        raise _Skip(f"{what}: no cgroup2 hierarchy is mounted")
    d = os.path.join(top, f"pyns-tour-{os.getpid()}")
    os.mkdir(d)
    try:
        before, after = run(_into_cgroup, os.path.join(d, "cgroup.procs"))
    finally:
        for _ in range(50):  # the exited child leaves the cgroup a moment after it is reaped
            try:
                os.rmdir(d)
                break
            except OSError:
                time.sleep(0.01)
    yield Check(
        "cgroup",
        f"{what} ({os.path.basename(d)}), then a new cgroup namespace",
        after,
        before,
        after == "0::/" and before.endswith(os.path.basename(d)),
    )


def _clocks() -> tuple[float, float, float]:
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return time.monotonic(), uptime, time.time()


_DAY = 86400


def _time(u: dict[str, Any]) -> Iterator[Check]:
    before = _clocks()
    mono, uptime, wall = run(_clocks, time=True, monotonic=7 * _DAY, boottime=365 * _DAY, **u)
    after = _clocks()
    slack = after[0] - before[0] + 1
    yield Check(
        "time",
        "CLOCK_BOOTTIME (/proc/uptime), offset +365 days",
        f"up {uptime / _DAY:.2f} days",
        f"up {after[1] / _DAY:.2f} days",
        abs(uptime - before[1] - 365 * _DAY) < slack,
    )
    yield Check(
        "time",
        "CLOCK_MONOTONIC, offset +7 days; CLOCK_REALTIME is never offset",
        f"monotonic {mono:.0f} s, wall clock {time.ctime(wall)}",
        f"monotonic {after[0]:.0f} s, wall clock {time.ctime(after[2])}",
        abs(mono - before[0] - 7 * _DAY) < slack and abs(wall - after[2]) < slack,
    )


#: (name, what the kind isolates, what the experiment shows, the experiment)
_EXPERIMENTS: list[tuple[str, str, str, Callable[[dict[str, Any], bool], Iterator[Check]]]] = [
    ("UTS", "hostname and NIS domain name",
     "a new UTS namespace has its own hostname; the host's stays as it is.",
     lambda u, root: _uts(u)),
    ("IPC", "System V IPC objects and POSIX message queues",
     "IPC objects of the host do not exist in a new IPC namespace.",
     lambda u, root: _ipc(u)),
    ("PID", "process ids",
     "the first process of a new PID namespace is PID 1; a /proc mounted there shows only its "
     "processes.",
     lambda u, root: _pid(u)),
    ("mount", "the mount table",
     "mounts made in a new mount namespace (made private) stay there.",
     lambda u, root: _mnt(u)),
    ("network", "interfaces, addresses, routes, sockets, firewall",
     "a new network namespace has only `lo`; veth pairs connect namespaces, each with its own "
     "addresses and routing table.",
     _net),
    ("user", "uids, gids and capabilities",
     "inside, ids are mapped (65534 when unmapped); root inside has every capability over the "
     "namespaces it owns, and is an ordinary uid outside.",
     lambda u, root: _user(root)),
    ("cgroup", "the view of the cgroup hierarchy",
     "a new cgroup namespace shows the process's own cgroup as the root '/'.",
     _cgroup),
    ("time", "CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets",
     "a new time namespace shifts the monotonic and boot clocks for its processes, never the "
     "wall clock.",
     lambda u, root: _time(u)),
]  # fmt: skip


def _userns_problem() -> str | None:
    """Why this user cannot make user namespaces, or None when it can."""
    try:
        run(os.getuid, user=True, timeout=30)
    except Exception as e:  # noqa: BLE001 - reported as the reason for the skips
        return (
            f"needs a user namespace, and creating one failed ({type(e).__name__}: {e}); they "
            "may be disabled (sysctl user.max_user_namespaces=0, "
            "kernel.unprivileged_userns_clone=0, or an AppArmor/SELinux policy)"
        )
    return None


def _is_root() -> bool:
    return os.geteuid() == 0 and "cap_sys_admin" in capabilities().effective


def tour(out: IO[str] | None = None) -> int:
    """Runs every experiment and prints what it did and what it shows, then a summary.

    Args:
        out: where to print (default: sys.stdout).

    Returns:
        The exit status: 0 when nothing failed (skipped steps are fine), 1 otherwise.
    """
    out = out or sys.stdout
    root = _is_root()
    problem = None if root else _userns_problem()
    u = {} if root else _ROOTLESS
    who = "as root" if root else f"as uid {os.getuid()}, each experiment in a user namespace"
    print(f"pyns tour — the classic namespace experiments ({who})\n", file=out)
    checks: list[Check] = []
    for name, isolates, shows, experiment in _EXPERIMENTS:
        print(f"{name} namespace — isolates {isolates}", file=out)
        found: list[Check] = []
        if problem:
            found.append(Check(name, "all steps", ok=None, why=problem))
        else:
            steps = experiment(u, root)
            while True:
                try:
                    found.append(next(steps))
                except StopIteration:
                    break
                except _Skip as e:
                    found.append(Check(name, "", ok=None, why=str(e)))
                    break
                except Exception as e:  # noqa: BLE001 - the tour reports and goes on
                    found.append(Check(name, "", ok=False, why=f"{type(e).__name__}: {e}"))
                    break
        for c in found:
            if c.ok is None:
                print(f"  {_MARK[None]} skipped: {c.why}", file=out)
            elif c.why:
                print(f"  {_MARK[False]} {c.why}", file=out)
            else:
                print(f"  {_MARK[c.ok]} {c.what}", file=out)
                print(f"      inside:  {c.inside}", file=out)
                print(f"      outside: {c.outside}", file=out)
        print(f"  → {shows}\n", file=out)
        checks.extend(found)
    passed = sum(c.ok is True for c in checks)
    skipped = sum(c.ok is None for c in checks)
    failed = sum(c.ok is False for c in checks)
    print(
        f"Summary: {len(_EXPERIMENTS)} experiments, {passed} checks passed, {skipped} skipped, "
        f"{failed} failed.",
        file=out,
    )
    return 1 if failed else 0

