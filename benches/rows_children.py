"""Rows of children in new namespaces: pyns.spawn and pyns.run against unshare(1),
posix_spawn, multiprocessing and pyspaces."""

from __future__ import annotations

import ctypes
import mmap
import multiprocessing
import os
import threading
import time

from harness import Ctx, Impl, Row, cprog, own_process, subprocess_runs, timed

import pyns

_libc = ctypes.CDLL(None, use_errno=True)
_TRUE = ["/bin/true"]


def _spawn(**kw: object):
    def op() -> None:
        if pyns.spawn(_TRUE, **kw).wait() != 0:  # type: ignore[arg-type]
            raise RuntimeError(f"spawn({kw}) failed")

    return op


def _posix_spawn() -> None:
    pid = os.posix_spawn("/bin/true", ["true"], os.environ)
    os.waitpid(pid, 0)


def _fn() -> int:
    return os.getpid()


def _unshare_uts() -> None:
    if _libc.unshare(pyns.CLONE_NEWUTS) != 0:
        raise OSError(ctypes.get_errno(), "unshare")


#: The big heap of the heap-size rows: what a data-laden caller brings to fork.
_BIG_HEAP = 500 << 20


def _with_heap(size: int, impl: Impl) -> Impl:
    """`impl` timed while this process holds `size` more bytes of private memory, every 4 KiB
    page touched (no huge pages), as a Python heap of that size would be; made before the
    timing and freed after it."""

    def run(k: int) -> float:
        m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        try:
            if hasattr(mmap, "MADV_NOHUGEPAGE"):
                m.madvise(mmap.MADV_NOHUGEPAGE)
            page = b"x" * mmap.PAGESIZE
            for off in range(0, size, mmap.PAGESIZE):
                m[off : off + mmap.PAGESIZE] = page
            return impl(k)
        finally:
            m.close()

    return run


def _heap_rows() -> list[Row]:
    """spawn(pid=True) and run(fn, uts, pid) with a 500 MB heap against a small one: a child
    that copied the caller would cost more with the bigger heap (its page tables)."""
    spawn = timed(_spawn(pid=True, mount_proc=True))
    run = timed(_pyns_run)
    return [
        Row(
            "child with PID ns, fresh /proc, init, 500 MB heap",
            {"pyns": _with_heap(_BIG_HEAP, spawn), "pyns small heap": spawn},
            base="pyns small heap",
            target=1.2,
            batch=40,
            rounds=7,
            note="spawn(['/bin/true'], pid=True, mount_proc=True).wait() with 500 MB of touched "
            "private memory in the caller, against the same without",
        ),
        Row(
            "Python callable in new UTS+PID ns, 500 MB heap",
            {
                "pyns": _with_heap(_BIG_HEAP, run),
                "pyns small heap": run,
                "multiprocessing fork, 500 MB heap": _with_heap(_BIG_HEAP, timed(_mp_fork)),
                "multiprocessing fork": timed(_mp_fork),
            },
            base="pyns small heap",
            batch=20,
            rounds=7,
            note="run(fn, uts=True, pid=True) with 500 MB of touched private memory in the "
            "caller: the one copy of the caller grows with its page tables, as a fork does",
        ),
    ]


def _mp_fork() -> None:
    p = multiprocessing.get_context("fork").Process(target=_unshare_uts)
    p.start()
    p.join()
    if p.exitcode != 0:
        raise RuntimeError("multiprocessing child failed")


def _pyns_run() -> None:
    if pyns.run(_fn, uts=True, pid=True) != 2:
        raise RuntimeError("run() is not PID 2 under the init")


def _pyspaces() -> None:
    from pyspaces import Container

    c = Container(target=_fn, uts=True, pid=True)
    c.start()
    c.join()
    if c.exitcode != 0:
        raise RuntimeError("pyspaces child failed")


def _python_rows() -> Row:
    # Each in a process of its own: pyspaces keeps ~75 MB that would slow the others' forks.
    impls = {"pyns": own_process("rows_children", "_pyns_run")}
    base = "multiprocessing fork"
    try:
        import pyspaces  # noqa: F401

        impls["pyspaces"] = own_process("rows_children", "_pyspaces")
        base = "pyspaces"
    except ImportError:
        pass
    impls["multiprocessing fork"] = own_process("rows_children", "_mp_fork")
    return Row(
        "Python callable in new UTS+PID ns",
        impls,
        base=base,
        target=0.6 if base == "pyspaces" else None,
        batch=40,
        note="pyns: run(fn, uts=True, pid=True) (fn is PID 2 under pyns' init); pyspaces: "
        "Container(target=fn, uts=True, pid=True); multiprocessing: fork context, the child "
        "unshares uts; each in a Python process of its own (the same imports), timed inside",
    )


def _run_a() -> None:
    if pyns.run(str, "A", uts=True) != "A":
        raise RuntimeError("run() gave a wrong answer")


def _under_busy_threads(k: int) -> float:
    """k runs while 4 other threads keep children of 0.4 s in flight (run and spawn): a run
    that waited for another thread's child (holding its fds) would take ~0.4 s."""
    stop = threading.Event()

    def busy(i: int) -> None:
        while not stop.is_set():
            if i % 2:
                pyns.run(time.sleep, 0.4, uts=True)
            else:
                pyns.spawn(["sleep", "0.4"], uts=True).wait()

    threads = [threading.Thread(target=busy, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.05)  # their children are in flight (not part of the timing)
        return timed(_run_a)(k)
    finally:
        stop.set()
        for t in threads:
            t.join()


def _fork_a_sleeper() -> str:
    if os.fork() == 0:  # holds the result pipe's write end for 0.2 s
        time.sleep(0.2)
        os._exit(0)
    return "done"


def _run_forking() -> None:
    if pyns.run(_fork_a_sleeper, uts=True) != "done":
        raise RuntimeError("run() gave a wrong answer")


def _latency_rows() -> list[Row]:
    """What tests/test_run.py checks without timing it: how long run takes when other children
    are around (the test proves no stall; these rows say how fast)."""
    return [
        Row(
            "run(fn, uts=True) while 4 threads run children of 0.4 s",
            {"pyns": _under_busy_threads, "no other threads": timed(_run_a)},
            base="no other threads",
            target=3.0,
            batch=20,
            note="a call that waited for another thread's child would take 0.4 s (ratio ~50)",
        ),
        Row(
            "run(fn, uts=True) whose fn leaves a child of 0.2 s behind",
            {"pyns": timed(_run_forking), "fn without a child": timed(_run_a)},
            base="fn without a child",
            target=2.0,
            batch=20,
            note="the result comes back when fn returns, not when its children exit (ratio "
            "~40 if it waited)",
        ),
    ]


def rows(ctx: Ctx) -> list[Row]:
    return _latency_rows() + [
        Row(
            "child in new UTS ns running `true`",
            {
                "pyns": timed(_spawn(uts=True)),
                "C clone+exec": cprog("children", "uts"),
                "C posix_spawn (no ns)": cprog("children", "posix_spawn"),
                "os.posix_spawn (no ns)": timed(_posix_spawn),
                "unshare(1)": subprocess_runs(["unshare", "--uts", "true"]),
            },
            base="unshare(1)",
            target=0.5,
            batch=100,
            note="pyns: spawn(['/bin/true'], uts=True).wait(); unshare(1) run by subprocess",
        ),
        Row(
            "child with PID ns, fresh /proc, init",
            {
                "pyns": timed(_spawn(pid=True, mount_proc=True)),
                "pyns init=False": timed(_spawn(pid=True, mount_proc=True, init=False)),
                "C clone+mount+exec (no init)": cprog("children", "pid-proc"),
                "unshare(1)": subprocess_runs(["unshare", "-p", "-f", "--mount-proc", "true"]),
            },
            base="unshare(1)",
            target=0.6,
            batch=60,
            note="pyns: spawn(['/bin/true'], pid=True, mount_proc=True).wait(): init PID 1, "
            "true PID 2",
        ),
        Row(
            "child with user ns, root mapped",
            {
                "pyns": timed(_spawn(user=True, map_root=True)),
                "C clone+maps": cprog("children", "user"),
                "C clone+maps+exec": cprog("children", "user-exec"),
                "unshare(1)": subprocess_runs(["unshare", "-r", "true"]),
            },
            base="unshare(1)",
            target=0.6,
            batch=100,
            note="pyns: spawn(['/bin/true'], user=True, map_root=True).wait()",
        ),
        _python_rows(),
    ] + _heap_rows()
