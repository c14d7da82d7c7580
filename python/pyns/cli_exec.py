"""The pre-exec step of ``pyns run``/``pyns enter`` for what ``pyns.spawn`` does not do itself.

``pyns run`` starts ``python -I -m pyns.cli_exec [STEPS] -- CMD ...`` as the child's program
when the command line asks for one of these; it runs in the child's new namespaces, does the
steps in util-linux's order and then executes CMD in place (no shell, no extra process):

    --unshare-mnt              a new mount namespace made here (for --propagation)
    --propagation P            slave|shared|private: of every mount, from / down
    --netns-tmpfs              a private tmpfs on /run/netns (rootless sessions)
    --sync FD --persist K,...  send these namespaces' fds to the parent over the unix socket
                               FD and wait until it has bound them to their files
    --root-fd FD / --root DIR  change the root directory (nsenter: an fd opened outside)
    --wd-fd FD / --wd DIR      change the working directory
    --mount-proc PATH          mount a fresh proc at PATH
    --setgid G, --setuid U     become G/U (supplementary groups dropped)
    --clear-groups             drop supplementary groups (where setgroups is allowed)
    --keep-caps                the permitted capabilities become ambient, so CMD keeps them

Errors are one line and exit 125 (126/127 when CMD cannot be executed), as the command line.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import sys
from typing import Sequence

from . import _native

_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_CAP_V3 = 0x20080522
_SYS_CAPGET = 125 if os.uname().machine == "x86_64" else 90
_SYS_CAPSET = 126 if os.uname().machine == "x86_64" else 91


class _Step(Exception):
    def __init__(self, step: str, err: OSError, status: int = 125) -> None:
        super().__init__(step)
        self.step, self.err, self.status = step, err, status


def _do(step: str, fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except OSError as e:
        raise _Step(step, e) from e


def _keep_caps() -> None:
    """Raises every permitted capability into the ambient set (unshare --keep-caps)."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(_CAP_V3, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.syscall(_SYS_CAPGET, header, data) != 0:
        raise _Step("read the capabilities (capget)", OSError(ctypes.get_errno(), "capget"))
    data[2], data[5] = data[1], data[4]  # inheritable = permitted
    if libc.syscall(_SYS_CAPSET, header, data) != 0:
        err = ctypes.get_errno()
        raise _Step("make the capabilities inheritable (capset)", OSError(err, os.strerror(err)))
    permitted = data[1] | data[4] << 32
    for cap in range(64):
        if permitted >> cap & 1 and libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, cap, 0, 0):
            err = ctypes.get_errno()
            raise _Step(f"raise capability {cap} to ambient (prctl)", OSError(err, os.strerror(err)))


def _sync(fd: int, kinds: list[str]) -> None:
    """Sends the fds of our `kinds` namespaces over `fd`, waits for the parent's go-ahead."""
    sock = socket.socket(fileno=fd)
    fds = [os.open(f"/proc/self/ns/{k}", os.O_RDONLY | os.O_CLOEXEC) for k in kinds]
    socket.send_fds(sock, [",".join(kinds).encode()], fds)
    for f in fds:
        os.close(f)
    if sock.recv(1) != b"1":
        sys.exit(125)  # the parent failed (and said why) or died
    sock.close()


def _run(argv: Sequence[str]) -> None:
    args = list(argv)
    cmd = args[args.index("--") + 1 :]
    steps = args[: args.index("--")]
    opt: dict[str, str] = {}
    flags = set()
    i = 0
    while i < len(steps):
        if steps[i] in ("--unshare-mnt", "--netns-tmpfs", "--clear-groups", "--keep-caps"):
            flags.add(steps[i])
            i += 1
        else:
            opt[steps[i]] = steps[i + 1]
            i += 2
    if "--unshare-mnt" in flags:
        _do("unshare the mount namespace (unshare CLONE_NEWNS)", _native.unshare,
            _native.CLONE_NEWNS)  # fmt: skip
    if "--propagation" in opt:
        _do("change mount propagation of / (mount MS_REC)", _native.mount_set_propagation, "/",
            opt["--propagation"], True)  # fmt: skip
    if "--netns-tmpfs" in flags:
        os.makedirs(_native.NETNS_DIR, exist_ok=True)
        _do(f"mount a private tmpfs on {_native.NETNS_DIR}", _native.mount_tmpfs, _native.NETNS_DIR)
    if "--sync" in opt:
        _sync(int(opt["--sync"]), opt["--persist"].split(","))
    cwd_fd = None
    if "--root-fd" in opt or "--root" in opt:
        if "--wd-fd" not in opt and "--wd" not in opt:
            cwd_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if "--root-fd" in opt:
            _do("change to the new root (fchdir)", os.fchdir, int(opt["--root-fd"]))
            _do("change the root directory (chroot)", os.chroot, ".")
        else:
            _do(f"change the root directory to {opt['--root']} (chroot)", os.chroot, opt["--root"])
            cwd_fd = None
            _do("change directory to / (chdir)", os.chdir, "/")
    if "--wd-fd" in opt:
        _do("change the working directory (fchdir)", os.fchdir, int(opt["--wd-fd"]))
    elif "--wd" in opt:
        _do(f"change directory to {opt['--wd']} (chdir)", os.chdir, opt["--wd"])
    elif cwd_fd is not None:
        _do("change the working directory (fchdir)", os.fchdir, cwd_fd)
    if "--mount-proc" in opt:
        _do(f"mount proc on {opt['--mount-proc']}", _native.mount_proc, opt["--mount-proc"])
    if "--setgid" in opt or "--clear-groups" in flags:
        try:
            os.setgroups([])
        except PermissionError:
            pass  # setgroups is denied in this user namespace: nothing to drop
    if "--setgid" in opt:
        _do(f"set gid {opt['--setgid']} (setgid)", os.setgid, int(opt["--setgid"]))
    if "--setuid" in opt:
        _do(f"set uid {opt['--setuid']} (setuid)", os.setuid, int(opt["--setuid"]))
    if "--keep-caps" in flags:
        _keep_caps()
    try:
        os.execvp(cmd[0], cmd)
    except OSError as e:
        status = 127 if e.errno == errno.ENOENT else 126
        raise _Step(f"failed to execute {cmd[0]}", e, status) from e


def main(argv: Sequence[str]) -> int:
    """Runs the steps and executes the program; returns only on failure.

    Args:
        argv: the steps, ``--``, the program and its arguments.

    Returns:
        125 when a step failed, 126/127 when the program cannot be executed.
    """
    try:
        _run(argv)
    except _Step as e:
        hint = getattr(e.err, "hint", None)
        if e.err.errno == errno.EPERM and not hint:
            hint = "this needs privilege in the namespace (run as root, or add -U/-r)"
        text = f"pyns: {e.step}: {e.err.strerror or e.err}"
        print(text + (f"; {hint}" if hint else ""), file=sys.stderr)
        return e.status
    return 125


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
