"""What this machine lets pyns do: ``pyns doctor`` / ``pyns.doctor()``, one finding per check,
each problem with the one-line fix. The pytest plugin's markers skip with the same reasons.

    for finding in pyns.doctor():
        print(finding.line())
"""

from __future__ import annotations

import errno
import os
import pwd
from dataclasses import asdict, dataclass
from typing import Callable, Optional

__all__ = ["Finding", "doctor", "root_missing", "userns_missing"]

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
_CLONE_NEWUSER = 0x10000000

#: (name, config symbol, module) of the qdiscs and link kinds pyns uses.
NET_FEATURES = (
    ("qdisc netem", "NET_SCH_NETEM", "sch_netem"),
    ("qdisc tbf", "NET_SCH_TBF", "sch_tbf"),
    ("qdisc fq", "NET_SCH_FQ", "sch_fq"),
    ("link 8021q (vlan)", "VLAN_8021Q", "8021q"),
    ("link veth", "VETH", "veth"),
    ("link bridge", "BRIDGE", "bridge"),
)

#: fds a topology holds per host (its namespace handles, netlink socket, nsfs name) at most.
FDS_PER_HOST = 4


@dataclass(frozen=True)
class Finding:
    """One check's result.

    Attributes:
        check: what was checked (``"user namespaces"``).
        ok: True when it is as pyns wants it.
        detail: what was found.
        fix: the one-line fix when not ok (a command or setting), else None.
        blocks: True when this stops pyns working at all (``pyns doctor`` then exits 1).
    """

    check: str
    ok: bool
    detail: str
    fix: Optional[str] = None
    blocks: bool = False

    def line(self) -> str:
        """The finding as one line: ``ok|warn|FAIL  check: detail — fix``."""
        mark = "ok  " if self.ok else ("FAIL" if self.blocks else "warn")
        text = f"{mark}  {self.check}: {self.detail}"
        return text + (f" — fix: {self.fix}" if self.fix else "")

    def as_dict(self) -> dict[str, object]:
        """The finding as a dict (``pyns doctor --json``)."""
        return asdict(self)


def _effective_caps() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def _status(field: str) -> Optional[str]:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return None


def _read_int(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def root_missing() -> Optional[str]:
    """Why the ``requires_root`` marker skips, or None when the process has what it needs.

    Returns:
        The reason (what is missing and how to get it), or None.
    """
    caps = _effective_caps()
    missing = [n for n, bit in (("CAP_SYS_ADMIN", CAP_SYS_ADMIN), ("CAP_NET_ADMIN", CAP_NET_ADMIN))
               if not caps >> bit & 1]  # fmt: skip
    if not missing:
        return None
    return (
        f"needs root: this process (uid {os.geteuid()}) lacks {' and '.join(missing)}; run the "
        "tests as root (sudo), or as fake root in a rootless session: "
        "`pyns run -r --all -- python -m pytest` (or mark the test requires_userns and use "
        "pyns.run(fn, user=True, map_root=True, net=True))"
    )


def _userns_sysctl_reason() -> Optional[tuple[str, str]]:
    """(reason, fix) when a sysctl switches user namespaces off for this process."""
    if _read_int("/proc/sys/user/max_user_namespaces") == 0:
        return (
            "user namespaces are disabled: user.max_user_namespaces is 0",
            "sysctl -w user.max_user_namespaces=15000",
        )
    if os.geteuid() != 0 and _read_int("/proc/sys/kernel/unprivileged_userns_clone") == 0:
        return (
            "unprivileged user namespaces are disabled: kernel.unprivileged_userns_clone is 0",
            "sysctl -w kernel.unprivileged_userns_clone=1",
        )
    if os.geteuid() != 0 and _read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1:
        return (
            "AppArmor restricts unprivileged user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns is 1, as on Ubuntu 24.04)",
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile "
            "with `userns,` for this python)",
        )
    return None


def _try_userns() -> Optional[int]:
    """Makes a user namespace in a forked child; None if it worked, else the errno."""
    from ._native import unshare

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            unshare(_CLONE_NEWUSER)
        except OSError as e:
            code = e.errno or 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else code


def _seccomp_filtered() -> bool:
    return _status("Seccomp") == "2"


def _userns_explained() -> tuple[Optional[str], Optional[str]]:
    """(reason, fix) when this process cannot make a user namespace, else (None, None)."""
    found = _userns_sysctl_reason()
    if found:
        return found
    err = _try_userns()
    if err is None:
        return None, None
    name = errno.errorcode.get(err, str(err))
    if _seccomp_filtered():
        return (
            f"unshare(CLONE_NEWUSER) fails with {name} and a seccomp filter is active (a "
            "container runtime's profile)",
            "run the container with `--security-opt seccomp=unconfined` (or a profile that "
            "allows unshare/clone/clone3 with CLONE_NEWUSER), or --privileged",
        )
    if err == errno.ENOSPC:
        return (
            "user namespaces are exhausted (ENOSPC): user.max_user_namespaces reached",
            "sysctl -w user.max_user_namespaces=15000",
        )
    return (
        f"unshare(CLONE_NEWUSER) fails with {name}: {os.strerror(err)}",
        "see dmesg for an LSM (AppArmor/SELinux) denial; in a container allow user namespaces",
    )


_userns_cache: list[Optional[str]] = []


def userns_missing() -> Optional[str]:
    """Why the ``requires_userns`` marker skips, or None when user namespaces can be made.

    Checks the sysctls that switch them off, then makes one (in a child) to be sure.

    Returns:
        The reason (what is missing and how to enable it), or None.
    """
    if not _userns_cache:
        reason, fix = _userns_explained()
        _userns_cache.append(None if reason is None else f"{reason}; fix: {fix}")
    return _userns_cache[0]


def _check_privilege() -> Finding:
    caps = _effective_caps()
    names = [n for n, b in (("CAP_SYS_ADMIN", CAP_SYS_ADMIN), ("CAP_NET_ADMIN", CAP_NET_ADMIN))
             if caps >> b & 1]  # fmt: skip
    who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
    if len(names) == 2:
        return Finding("privilege", True, f"{who} with CAP_SYS_ADMIN and CAP_NET_ADMIN")
    have = ", ".join(names) or "no namespace capabilities"
    return Finding(
        "privilege",
        False,
        f"{who} with {have}: namespaces other than user need a user namespace of your own",
        "sudo, or a rootless session: pyns run -r --all -- CMD",
    )


def _check_userns() -> Finding:
    reason, fix = _userns_explained()
    if reason is None:
        who = "this user" if os.geteuid() != 0 else "root"
        return Finding("user namespaces", True, f"{who} can create them (tried)")
    return Finding("user namespaces", False, reason, fix, blocks=_effective_caps() >> 21 & 1 == 0)


def subid_range(path: str) -> Optional[tuple[int, int]]:
    """The first range of this user (by uid or name) in /etc/subuid or /etc/subgid:
    ``(start, count)``, or None."""
    uid = os.geteuid()
    names = {str(uid)}
    try:
        names.add(pwd.getpwuid(uid).pw_name)
    except KeyError:
        pass
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in names:
                    return int(parts[1]), int(parts[2])
    except (OSError, ValueError):
        pass
    return None


def _check_idmap_tools() -> list[Finding]:
    import shutil

    out = []
    for tool in ("newuidmap", "newgidmap"):
        path = shutil.which(tool)
        if path is None:
            out.append(Finding(tool, False, "not installed (needed for multi-range id maps)",
                               "apt-get install uidmap"))  # fmt: skip
            continue
        st = os.stat(path)
        privileged = bool(st.st_mode & 0o4000)
        if not privileged:
            try:
                privileged = bool(os.getxattr(path, "security.capability"))
            except OSError:
                privileged = False
        if privileged:
            out.append(Finding(tool, True, f"{path} (setuid or file capabilities)"))
        else:
            out.append(Finding(tool, False, f"{path} is neither setuid nor has file capabilities",
                               f"chmod u+s {path}"))  # fmt: skip
    user = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() != 0 else "root"
    for path, flag in (("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")):
        rng = subid_range(path)
        if rng:
            out.append(Finding(path, True, f"{user}: {rng[1]} ids from {rng[0]}"))
        else:
            out.append(Finding(path, False, f"no range for {user} (needed by --map-auto, "
                               "--map-users and multi-range maps)",
                               f"usermod {flag} 100000-165535 {user}"))  # fmt: skip
    return out


def _syscall_present(nr: int) -> bool:
    """True unless the syscall fails with ENOSYS (called with arguments it rejects)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(ctypes.c_long(nr), ctypes.c_void_p(0), ctypes.c_size_t(0),
                     ctypes.c_long(-1), ctypes.c_long(0))  # fmt: skip
    return not (r == -1 and ctypes.get_errno() == errno.ENOSYS)


def _pidfd_ns_ioctl() -> bool:
    import fcntl

    try:
        pidfd = os.pidfd_open(os.getpid())
    except (OSError, AttributeError):
        return False
    try:
        fd = fcntl.ioctl(pidfd, (0xFF << 8) | 4)  # PIDFD_GET_NET_NAMESPACE
        os.close(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(pidfd)


def _check_kernel() -> list[Finding]:
    release = os.uname().release
    out = [Finding("kernel", True, f"Linux {release}")]
    x86 = os.uname().machine == "x86_64"
    features: list[tuple[str, Callable[[], bool], str]] = [
        ("clone3", lambda: _syscall_present(435), "pyns falls back to clone (slower)"),
        ("pidfd namespace ioctls", _pidfd_ns_ioctl,
         "pyns opens /proc/PID/ns instead (Linux 6.11+ has them)"),
        ("mount_setattr", lambda: _syscall_present(442 if x86 else 442),
         "read-only bind mounts use a remount (Linux 5.12+)"),
        ("time namespaces", lambda: os.path.exists("/proc/self/ns/time"),
         "--monotonic/--boottime and time=True need Linux 5.6+ with CONFIG_TIME_NS"),
    ]  # fmt: skip
    for name, probe, fallback in features:
        if probe():
            out.append(Finding(name, True, "available"))
        else:
            out.append(Finding(name, False, f"missing: {fallback}", "a newer kernel"))
    return out


def _kernel_config() -> dict[str, str]:
    import gzip

    release = os.uname().release
    text = ""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        try:
            with open(f"/boot/config-{release}") as f:
                text = f.read()
        except OSError:
            return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, value = line[7:].split("=", 1)
            out[key] = value
    return out


def _module_files() -> tuple[set[str], set[str], set[str]]:
    """(built in, loadable, loaded) module names from modules.builtin, modules.dep, /proc."""
    base = f"/lib/modules/{os.uname().release}"

    def names(path: str) -> set[str]:
        out = set()
        try:
            with open(path) as f:
                for line in f:
                    first = line.split(":", 1)[0].split()[0] if line.strip() else ""
                    name = os.path.basename(first).split(".ko")[0]
                    out.add(name.replace("-", "_"))
        except OSError:
            pass
        return out

    return names(f"{base}/modules.builtin"), names(f"{base}/modules.dep"), names("/proc/modules")


def _check_net_features() -> list[Finding]:
    config = _kernel_config()
    builtin, loadable, loaded = _module_files()
    out = []
    for name, symbol, module in NET_FEATURES:
        key = module.replace("-", "_")
        if config.get(symbol) == "y" or key in builtin:
            out.append(Finding(name, True, "built in"))
        elif key in loaded:
            out.append(Finding(name, True, f"module {module} loaded"))
        elif config.get(symbol) == "m" or key in loadable:
            out.append(Finding(name, True, f"module {module} loadable (loaded on first use)"))
        elif not config and not (builtin or loadable):
            out.append(Finding(name, False, "unknown: no kernel config or module list here",
                               f"modprobe {module} on the host"))  # fmt: skip
        else:
            out.append(Finding(name, False, f"not in this kernel (CONFIG_{symbol} unset)",
                               f"a kernel with CONFIG_{symbol}=m (e.g. linux-modules-extra)"))  # fmt: skip
    return out


def _check_run_netns() -> Finding:
    from ._native import NETNS_DIR as path
    if os.path.isdir(path):
        if os.access(path, os.W_OK):
            return Finding(path, True, "present and writable")
        return Finding(path, False, "not writable here: pyns.netns needs root",
                       "sudo, or a rootless session (pyns run -r --all) with a private /run/netns")  # fmt: skip
    if os.access("/run", os.W_OK):
        return Finding(path, True, "absent; created on first pyns.netns.add")
    return Finding(path, False, "absent and /run is not writable: pyns.netns needs root",
                   "sudo, or a rootless session (pyns run -r --all) with a private /run/netns")  # fmt: skip


def _check_fd_limit(hosts: int = 1000) -> Finding:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = hosts * FDS_PER_HOST + 64
    if soft == resource.RLIM_INFINITY or soft >= need:
        return Finding("fd limit", True, f"{soft} open files (a {hosts}-host topology needs ~{need})")
    if hard == resource.RLIM_INFINITY or hard >= need:
        fix = f"ulimit -n {need} (the hard limit {hard} allows it)"
    else:
        fix = f"raise the hard limit: LimitNOFILE={need} / `ulimit -Hn {need}` as root"
    return Finding("fd limit", False, f"{soft} open files; a {hosts}-host topology needs ~{need}",
                   fix)  # fmt: skip


def doctor() -> list[Finding]:
    """Checks what this machine lets pyns do.

    Returns:
        One :class:`Finding` per check: privilege, user namespaces (sysctls, AppArmor,
        seccomp, tried), newuidmap/newgidmap and this user's subuid/subgid ranges, the kernel
        and its features (clone3, pidfd namespace ioctls, mount_setattr, time namespaces),
        the qdiscs and link kinds pyns uses, /run/netns and the fd limit. A finding with
        ``blocks`` set means pyns cannot work here at all.
    """
    priv = _check_privilege()
    userns = _check_userns()
    if not priv.ok and not userns.ok:
        priv = Finding(priv.check, False, priv.detail, priv.fix, blocks=True)
    out = [priv, userns]
    out += _check_idmap_tools()
    out += _check_kernel()
    out += _check_net_features()
    out.append(_check_run_netns())
    out.append(_check_fd_limit())
    return out
