"""Rows of children in new namespaces: pyns.spawn and pyns.run against unshare(1),
posix_spawn, multiprocessing and pyspaces."""

from __future__ import annotations

import ctypes
import multiprocessing
import os

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


def rows(ctx: Ctx) -> list[Row]:
    return [
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
