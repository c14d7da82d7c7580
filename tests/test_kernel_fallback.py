"""How pyns reads namespaces on every kernel: with the pidfs namespace ioctls (Linux 6.11+) and
through /proc without them (5.x, 6.1). Each case runs in a fresh Python, once as the kernel
allows and once with PYNS_TEST_NO_PIDFD_NS=1, the test switch that turns the ioctls off (pyns
reads it once per process), so the fallback runs on every kernel, not only in the kernel lane.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.kernel

KERNEL = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])


@pytest.fixture(params=["as-the-kernel-allows", "ioctls-off"])
def py(request):
    """`py(code)` runs Python code in a fresh interpreter, with the test switch on or off, and
    returns its stdout; a failure there fails the test with its stderr."""
    env = dict(os.environ)
    env.pop("PYNS_TEST_NO_PIDFD_NS", None)
    if request.param == "ioctls-off":
        env["PYNS_TEST_NO_PIDFD_NS"] = "1"

    def run(code: str) -> str:
        r = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        return r.stdout

    run.ioctls = request.param != "ioctls-off" and KERNEL >= (6, 11)  # type: ignore[attr-defined]
    return run


def test_the_switch_decides_whether_a_pidfd_is_used(py) -> None:
    out = py(
        """
        import os, pyns
        pyns.Namespace.current("net").close()
        fds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
               if os.path.exists(f"/proc/self/fd/{fd}")]
        print(any("pidfd" in t for t in fds))
        """
    )
    # pyns keeps one pidfd per thread only where it reads namespaces through it.
    assert out.strip() == str(py.ioctls)


def test_current_names_what_proc_names_for_every_kind(py) -> None:
    out = py(
        """
        import os, pyns
        for kind in pyns.KINDS:
            with pyns.Namespace.current(kind) as ns:
                assert ns.inode == os.stat(f"/proc/thread-self/ns/{kind}").st_ino, kind
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_isolate_and_enter_restore_the_thread(py) -> None:
    out = py(
        """
        import os, subprocess, pyns
        def here():
            return {k: os.stat(f"/proc/thread-self/ns/{k}").st_ino
                    for k in ("uts", "ipc", "net", "mnt", "cgroup")}
        before = here()
        with pyns.isolate(uts=True, ipc=True, net=True, mnt=True, cgroup=True):
            inside = here()
            assert all(inside[k] != before[k] for k in before), (before, inside)
            with pyns.isolate(uts=True):
                assert here()["uts"] not in (before["uts"], inside["uts"])
            assert here() == inside
        assert here() == before
        p = pyns.spawn(["sleep", "60"], net=True, uts=True)
        try:
            with pyns.enter(p, net=True, uts=True):
                assert here()["net"] == os.stat(f"/proc/{p.pid}/ns/net").st_ino
                assert here()["uts"] == os.stat(f"/proc/{p.pid}/ns/uts").st_ino
            assert here() == before
        finally:
            p.kill()
            p.wait()
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_process_namespaces_and_pyns_ls(py) -> None:
    out = py(
        """
        import json, os, subprocess, sys, pyns
        p = pyns.spawn(["sleep", "60"], net=True, uts=True, ipc=True)
        try:
            got = {k: ns.inode for k, ns in p.namespaces.items()}
            want = {k: os.stat(f"/proc/{p.pid}/ns/{k}").st_ino for k in got}
            assert got == want and set(got) >= {"net", "uts", "ipc"}, (got, want)
            ls = subprocess.run([sys.executable, "-m", "pyns", "ls", "--json"],
                                capture_output=True, text=True, check=True).stdout
            print(json.dumps([want["net"], ls]))
        finally:
            p.kill()
            p.wait()
        """
    )
    net, ls = json.loads(out)
    rows = json.loads(ls)["namespaces"]
    assert any(r["ns"] == net and r["type"] == "net" for r in rows), rows
