"""pyns' init does not copy the caller (issue 14): with spawn(pid=True) and run(fn, pid=True),
PID 1 shares the caller's memory (kcmp(2) KCMP_VM), and run's worker, the one copy of the
caller, keeps the caller's name."""

from __future__ import annotations

import ctypes
import os
import platform
import threading

import pytest

import pyns

_libc = ctypes.CDLL(None, use_errno=True)
_KCMP = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
_KCMP_VM = 1

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (new pid namespaces)")
needs_kcmp = pytest.mark.skipif(_KCMP is None, reason="kcmp(2) number unknown here")


def _same_memory(a: int, b: int) -> bool:
    r = _libc.syscall(_KCMP, a, b, _KCMP_VM, 0, 0)
    if r < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return r == 0


@needs_root
@needs_kcmp
def test_spawns_init_shares_the_callers_memory() -> None:
    with pyns.spawn(["sleep", "60"], pid=True) as p:
        try:
            assert _same_memory(os.getpid(), p.pid)
        finally:
            p.kill()


def _parent_outside(r: int, w: int) -> str:
    """In the worker: tells the caller its parent's pid as the caller sees it (PPid in the
    caller's /proc), waits until the caller has looked, returns its own name."""
    with open("/proc/self/status") as f:
        ppid = next(line.split()[1] for line in f if line.startswith("PPid:"))
    os.write(w, ppid.encode() + b"\n")
    os.read(r, 1)
    with open("/proc/self/comm") as f:
        return f.read().strip()


@needs_root
@needs_kcmp
def test_runs_init_shares_the_callers_memory_and_the_worker_keeps_its_name() -> None:
    to_worker = os.pipe()
    from_worker = os.pipe()
    seen: list[bool] = []

    def look() -> None:
        try:
            with os.fdopen(os.dup(from_worker[0]), "rb") as f:
                init_pid = int(f.readline())
            seen.append(_same_memory(os.getpid(), init_pid))
        finally:
            os.write(to_worker[1], b"x")

    t = threading.Thread(target=look)
    t.start()
    try:
        name = pyns.run(_parent_outside, to_worker[0], from_worker[1], uts=True, pid=True)
    finally:
        t.join()
        for fd in (*to_worker, *from_worker):
            os.close(fd)
    with open("/proc/self/comm") as f:
        assert name == f.read().strip()
    assert seen == [True]
