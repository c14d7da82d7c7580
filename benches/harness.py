"""The bench harness: rows of implementations timed side by side, in interleaved batches."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")

#: An implementation: do k operations, return the elapsed seconds.
Impl = Callable[[int], float]


@dataclass
class Row:
    """One operation, measured for pyns and its peers; `base` is the peer of the ratio."""

    name: str
    impls: dict[str, Impl]
    base: str
    target: float | None = None
    batch: int = 100
    note: str = ""
    #: Rounds of a full run for rows whose one batch takes seconds (default: the harness's).
    rounds: int | None = None


@dataclass
class Ctx:
    """What row factories get: `stack` runs their clean-up at the end; `quick` for smoke runs."""

    quick: bool = False
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)


def timed(op: Callable[[], object]) -> Impl:
    """An Impl that calls `op` k times."""

    def run(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            op()
        return time.perf_counter() - t0

    return run


def _build(name: str) -> str:
    src = os.path.join(HERE, "c", f"{name}.c")
    exe = os.path.join(BUILD, name)
    newest = max(os.path.getmtime(src), os.path.getmtime(os.path.join(HERE, "c", "common.h")))
    if not os.path.exists(exe) or os.path.getmtime(exe) < newest:
        os.makedirs(BUILD, exist_ok=True)
        subprocess.run(["cc", "-O2", "-Wall", "-o", exe, src], check=True)
    return exe


def cprog(name: str, *args: str) -> Impl:
    """An Impl that runs the C reference `benches/c/<name>.c` as `prog ARGS... K`; the program
    prints the nanoseconds its K operations took."""
    exe = _build(name)

    def run(k: int) -> float:
        out = subprocess.run([exe, *args, str(k)], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1]) / 1e9

    return run


def own_process(module: str, name: str) -> Impl:
    """An Impl that calls ``module.name()`` k times in a Python process of its own (after one
    untimed call), which prints the elapsed seconds: for Python peers that fork, so that what
    one leaves in memory does not make the others' forks dearer (pyspaces keeps ~75 MB after a
    few hundred containers, and every later fork copies their page tables)."""
    code = (
        f"import sys, time; sys.path.insert(0, {HERE!r}); import {module}; op = {module}.{name}\n"
        "op(); k = int(sys.argv[1]); t0 = time.perf_counter()\n"
        "for _ in range(k): op()\n"
        "print(time.perf_counter() - t0)"
    )

    def run(k: int) -> float:
        out = subprocess.run([sys.executable, "-c", code, str(k)], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{module}.{name} failed: {out.stderr.strip()}")
        return float(out.stdout.split()[-1])

    return run


def subprocess_runs(argv: list[str]) -> Impl:
    """An Impl that runs a command k times (stdout discarded)."""

    def run(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0

    return run
