"""Rows of children in new namespaces: pyns.spawn and pyns.run against unshare(1),
posix_spawn, multiprocessing and pyspaces."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import threading
import time

from harness import Ctx, Row, cprog, subprocess_runs, timed

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


def _python_rows() -> Row:
    fork = multiprocessing.get_context("fork")

    def mp_fork() -> None:
        p = fork.Process(target=_unshare_uts)
        p.start()
        p.join()
        if p.exitcode != 0:
            raise RuntimeError("multiprocessing child failed")

    def pyns_run() -> None:
        if pyns.run(_fn, uts=True, pid=True) != 2:
            raise RuntimeError("run() is not PID 2 under the init")

    impls = {"pyns": timed(pyns_run)}
    base = "multiprocessing fork"
    try:
        from pyspaces import Container

        def pyspaces() -> None:
            c = Container(target=_fn, uts=True, pid=True)
            c.start()
            c.join()
            if c.exitcode != 0:
                raise RuntimeError("pyspaces child failed")

        impls["pyspaces"] = timed(pyspaces)
        base = "pyspaces"
    except ImportError:
        pass
    impls["multiprocessing fork"] = timed(mp_fork)
    return Row(
        "Python callable in new UTS+PID ns",
        impls,
        base=base,
        target=0.7 if base == "pyspaces" else None,
        batch=40,
        note="pyns: run(fn, uts=True, pid=True) (fn is PID 2 under pyns' init); pyspaces: "
        "Container(target=fn, uts=True, pid=True); multiprocessing: fork context, the child "
        "unshares uts",
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
            target=0.8,
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
    ]
