"""Rootless sessions: `pyns run -r --all -- CMD` as uid 65534 runs examples and a pytest session
(topology fixture, isolate, enter, pyns.netns) as fake root; `pyns doctor`; CLI error lines."""

from __future__ import annotations

import json
import os
import pathlib
import select
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

import pyns

NOBODY = 65534
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {"PATH": os.path.dirname(sys.executable) + ":/usr/sbin:/usr/bin:/sbin:/bin",
       "LANG": "C.UTF-8"}  # fmt: skip


def as_nobody(*argv: str, cwd: str = "/", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs argv as uid/gid 65534 with no groups (setpriv)."""
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env=ENV,
    )  # fmt: skip


def session(*argv: str, **kw) -> subprocess.CompletedProcess[str]:
    return as_nobody(sys.executable, "-m", "pyns", "run", "-r", "--all", "--", *argv, **kw)


def test_rootless_session_makes_every_kind_owned_by_its_user_namespace():
    code = """
        import os, pyns
        user = pyns.Namespace.current("user")
        print(os.getuid(), os.getpid(), os.listdir("/run/netns"))
        for kind in pyns.KINDS:
            ns = pyns.Namespace.current(kind)
            if kind != "user":
                assert ns.owner() == user, kind
        print(sorted(pyns.mount.propagation("/run/netns") for _ in [0]))
    """
    r = session(sys.executable, "-c", textwrap.dedent(code))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "0 2 []\n['private']\n"


@pytest.mark.parametrize(
    "example, expected",
    [
        ("router_chain.py", "got b'hello through r'"),
        ("http_across_hosts.py", "client got: 200"),
        ("partition_heal.py", "healed: connected"),
    ],
)
def test_rootless_session_runs_the_examples(example: str, expected: str):
    # A copy where uid 65534 can read it: the checkout may sit in a private directory.
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        script = shutil.copy(os.path.join(ROOT, "examples", example), d)
        os.chmod(script, 0o644)
        r = session(sys.executable, script)
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout


def test_rootless_session_runs_pytest_with_the_topology_fixture():
    with tempfile.TemporaryDirectory() as d:  # under /tmp: nobody can reach it
        os.chmod(d, 0o755)
        _pytest_in_session(pathlib.Path(d))


def _pytest_in_session(tmp_path: pathlib.Path) -> None:
    (tmp_path / "test_in_session.py").write_text(textwrap.dedent("""
        import socket
        import pyns

        def test_topology(topology):
            a, b = topology.host("a"), topology.host("b")
            topology.link(a, b)
            with b.enter():
                server = socket.create_server((b.ip(), 7000))
            with server, a.enter(), socket.create_connection((b.ip(), 7000), timeout=5):
                server.accept()[0].close()

        def test_isolate_enter_and_netns():
            with pyns.isolate(uts=True, net=True, hostname="inner"):
                assert socket.gethostname() == "inner"
            ns = pyns.netns.add("blue")
            with ns, ns.enter():
                assert pyns.net.link("lo") is not None
            assert pyns.netns.names() == ["blue"]
            pyns.netns.remove("blue")
    """))
    os.chmod(tmp_path / "test_in_session.py", 0o644)
    r = session(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                str(tmp_path / "test_in_session.py"), cwd=str(tmp_path))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 passed" in r.stdout


# --- doctor --------------------------------------------------------------------------------


def test_doctor_as_root_and_as_nobody():
    r = subprocess.run([sys.executable, "-m", "pyns", "doctor"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ok    privilege: root with CAP_SYS_ADMIN and CAP_NET_ADMIN")
    assert any(ln.startswith("ok    user namespaces") for ln in lines)
    assert any("qdisc netem" in ln for ln in lines) and any("fd limit" in ln for ln in lines)
    found = json.loads(subprocess.run([sys.executable, "-m", "pyns", "doctor", "--json"],
                                      capture_output=True, text=True).stdout)  # fmt: skip
    assert {f["check"] for f in found} >= {"privilege", "user namespaces", "clone3", "kernel"}
    assert [f.check for f in pyns.doctor()] == [f["check"] for f in found]
    r = as_nobody(sys.executable, "-m", "pyns", "doctor")
    assert r.returncode == 0, r.stdout  # not root, but user namespaces work: nothing blocks
    assert "warn  privilege: uid 65534" in r.stdout
    assert "fix: sudo, or a rootless session: pyns run -r --all -- CMD" in r.stdout


def test_doctor_explains_disabled_user_namespaces_and_exits_1(pyns_without_user_namespaces):
    returncode, out = pyns_without_user_namespaces("doctor")
    assert returncode == 1, out
    assert ("FAIL  user namespaces: user namespaces are disabled: user.max_user_namespaces is 0"
            " — fix: sysctl -w user.max_user_namespaces=15000") in out  # fmt: skip
    assert "FAIL  privilege" in out


# --- errors --------------------------------------------------------------------------------


def test_errors_are_one_line_with_the_fix():
    # nobody's own process in a user and network namespace of its own
    p = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                          "unshare", "-r", "-n", "sleep", "60"])  # fmt: skip
    try:
        while not os.readlink(f"/proc/{p.pid}/exe").endswith("sleep"):
            select.select([], [], [], 0.01)
        enter = [sys.executable, "-m", "pyns", "enter", "-t", str(p.pid)]
        r = as_nobody(*enter, "-n", "true")
        assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
        assert "add -U" in r.stderr and "Operation not permitted" in r.stderr
        assert as_nobody(*enter, "-U", "-n", "true").returncode == 0
    finally:
        p.kill()
        p.wait()
    with pyns.spawn(["sleep", "60"], net=True) as q:
        try:
            r = as_nobody(sys.executable, "-m", "pyns", "enter", "-t", str(q.pid), "-n", "true")
            assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
            assert "run as root" in r.stderr and "-U" not in r.stderr
        finally:
            q.kill()
    r = as_nobody(sys.executable, "-m", "pyns", "netns", "add", "x")
    assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
    assert "-U" not in r.stderr and "pyns run -r --all" in r.stderr
    r = as_nobody(sys.executable, "-m", "pyns", "run", "-n", "true")
    assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
    assert "add -r" in r.stderr
    r = as_nobody(sys.executable, "-m", "pyns", "--debug", "run", "-n", "true")
    assert r.returncode == 125 and "Traceback" in r.stderr
    assert r.stderr.splitlines()[-1].startswith("pyns: ") and "add -r" in r.stderr
    r = subprocess.run([sys.executable, "-m", "pyns", "--debug", "run", "no-such-program-xyz"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 127 and "Traceback" in r.stderr


def test_doctor_explains_the_apparmor_restriction_and_seccomp(nobody):
    r = nobody(
        """
        import errno
        import pyns.machine as d
        d._read_int = lambda path: 1 if "apparmor" in path else None
        print(d._userns_explained()[1])
        d._read_int = lambda path: None
        d._try_userns = lambda: errno.EPERM
        d._seccomp_filtered = lambda: True
        print(d._userns_explained()[0])
        print(d.userns_missing())
        """
    )
    assert r.returncode == 0, r.stderr
    apparmor, seccomp, reason = r.stdout.splitlines()
    assert apparmor.startswith("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    assert seccomp.startswith("unshare(CLONE_NEWUSER) fails with EPERM and a seccomp filter")
    assert "fix: run the container with `--security-opt seccomp=unconfined`" in reason
