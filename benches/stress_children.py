"""Stress: N pyns.run() and N pyns.spawn() calls while 4 Python threads allocate and print.

    python benches/stress_children.py [N]      (default 1000; as root)

Fails (exit 1) on a hang (a call taking over 30 s: all stacks are dumped), a wrong result, or
a leaked fd or child process. Prints the time per call.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time

import pyns


def _one() -> int:
    return 1


def _children() -> list[str]:
    me = str(os.getpid())
    found = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open(f"/proc/{e}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == me:
                        found.append(e)
            except OSError:
                pass
    return found


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    stop = threading.Event()

    pyns.run(_one, pid=True)  # warm-up: the thread's cached pidfd (kept by design)
    fds = sorted(os.listdir("/proc/self/fd"))
    sink = open(os.devnull, "w")

    def busy() -> None:
        junk: list[bytearray] = []
        while not stop.is_set():
            junk.append(bytearray(4096))
            if len(junk) > 256:
                junk.clear()
            print("busy", len(junk), file=sink)

    threads = [threading.Thread(target=busy) for _ in range(4)]
    for t in threads:
        t.start()
    t_run = t_spawn = 0.0
    try:
        for i in range(n):
            faulthandler.dump_traceback_later(30, exit=True)
            t0 = time.perf_counter()
            if pyns.run(_one, uts=True, pid=(i % 2 == 0)) != 1:
                print("wrong result from run()", file=sys.stderr)
                return 1
            t1 = time.perf_counter()
            with pyns.spawn(["true"], uts=True, pid=(i % 2 == 1)) as p:
                pass
            t2 = time.perf_counter()
            if p.returncode != 0:
                print(f"spawn() child exited {p.returncode}", file=sys.stderr)
                return 1
            t_run += t1 - t0
            t_spawn += t2 - t1
        faulthandler.cancel_dump_traceback_later()
    finally:
        stop.set()
        for t in threads:
            t.join()
        sink.close()
    now = sorted(os.listdir("/proc/self/fd"))
    leaked_fds = len(now) - len(fds)
    if leaked_fds:
        extra = {f: os.path.realpath(f"/proc/self/fd/{f}") for f in set(now) - set(fds)}
        print(f"fds before: {fds}, after: {now}; new: {extra}")
    left = _children()
    print(f"{n} run(): {t_run / n * 1e6:.0f} µs each; {n} spawn(): {t_spawn / n * 1e6:.0f} µs each")
    print(f"fds leaked: {leaked_fds}; children left: {left}")
    return 0 if leaked_fds == 0 and not left else 1


if __name__ == "__main__":
    sys.exit(main())
