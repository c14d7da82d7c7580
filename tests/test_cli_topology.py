"""`pyns topology ls|exec` against a topology that another process owns (registry.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.requires_root

PYNS = [sys.executable, "-m", "pyns"]

OWNER = textwrap.dedent(
    """
    import sys
    from pyns.testing import Topology
    t = Topology()
    a, b = t.host("a"), t.host("b")
    t.link(a, b, subnet="10.8.0.0/24")
    t.router("r"); t.switch("s")
    t.remove("r")
    print("ready", flush=True)
    sys.stdin.read()  # until the test closes stdin
    t.close()
    print("closed", flush=True)
    sys.stdin.read()
    """
)


def _pyns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYNS, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def owner() -> Iterator[subprocess.Popen[str]]:
    """A process that owns a topology (hosts a, b, switch s; router r added and removed)."""
    with subprocess.Popen([sys.executable, "-c", OWNER], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as p:  # fmt: skip
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        try:
            yield p
        finally:
            p.kill()


def _mine(pid: int) -> list[dict]:
    r = _pyns("topology", "ls", "--json")
    assert r.returncode == 0, r.stderr
    return [t for t in json.loads(r.stdout)["topologies"] if t["pid"] == pid]


def test_ls_lists_the_topologies_of_running_processes(owner):
    (t,) = _mine(owner.pid)
    assert list(t["nodes"]) == ["a", "b", "s"]  # r was removed
    assert t["nodes"]["s"]["kind"] == "switch" and set(t["nodes"]["a"]["fds"]) == {"net", "mnt"}  # uts: on first use
    assert "python" in t["command"]
    out = _pyns("topology", "ls").stdout.splitlines()
    assert out[0].split() == ["PID", "FD", "COMMAND", "NODES"]
    (row,) = [x for x in out if x.split()[0] == str(owner.pid)]
    assert row.endswith(" a b s(switch)")


def test_exec_runs_a_command_inside_a_node(owner):
    r = _pyns("topology", "exec", str(owner.pid), "b", "--", "sh", "-c", "hostname; ip addr")
    assert r.returncode == 0, r.stderr
    host, addrs = r.stdout.split("\n", 1)
    assert host == "b" and "inet 10.8.0.2/24" in addrs and "10.8.0.1" not in addrs
    assert _pyns("topology", "exec", str(owner.pid), "a", "ping", "-c1", "-W5", "10.8.0.2").returncode == 0
    assert _pyns("topology", "exec", str(owner.pid), "a", "--", "sh", "-c", "exit 7").returncode == 7
    mine = os.readlink("/proc/self/ns/net")
    assert _pyns("topology", "exec", str(owner.pid), "s", "readlink", "/proc/self/ns/net").stdout.strip() != mine


def test_errors_say_what_to_do(owner):
    pid = str(owner.pid)
    r = _pyns("topology", "exec", pid, "nosuch", "true")
    assert r.returncode == 125
    assert r.stderr == f"pyns: the topology of process {pid} has no node 'nosuch' (its nodes: a, b, s)\n"
    r = _pyns("topology", "exec", "1", "a", "true")
    assert r.stderr == "pyns: process 1 has no live pyns topology (see: pyns topology ls)\n"
    dead = subprocess.Popen(["true"])
    dead.wait()
    r = _pyns("topology", "exec", str(dead.pid), "a", "true")
    assert r.returncode == 125 and r.stderr == f"pyns: no process {dead.pid}\n"
    r = _pyns("topology", "exec", "x1", "a")
    assert r.returncode == 1 and r.stderr.startswith("pyns topology: invalid PID argument: 'x1'\n")
    r = _pyns("topology", "frob")
    assert r.returncode == 1 and "unknown subcommand 'frob'" in r.stderr
    r = _pyns("topology", "exec", pid, "a", "--", "/nonexistent")
    assert r.returncode == 127 and "failed to execute /nonexistent" in r.stderr


def test_another_users_topology_needs_root(owner, nobody):
    code = f"""
import subprocess, sys
r = subprocess.run([sys.executable, "-m", "pyns", "topology", "exec", "{owner.pid}", "a", "true"],
                   capture_output=True, text=True)
print(r.returncode, r.stderr, end="")
r = subprocess.run([sys.executable, "-m", "pyns", "topology", "ls", "--json"], capture_output=True, text=True)
print(r.returncode, r.stdout.count('"pid": {owner.pid},'))
"""
    out = nobody(code).stdout
    assert out.startswith(f"125 pyns: process {owner.pid} belongs to another user: run as root")
    assert out.splitlines()[-1] == "0 0"  # ls: not an error, only nothing it may see


def test_nothing_is_left_when_the_owner_closes_or_dies(owner):
    (t,) = _mine(owner.pid)
    fd = t["nodes"]["a"]["fds"]["net"]
    assert owner.stdin is not None and owner.stdout is not None
    owner.stdin.close()  # the owner closes its topology and waits
    assert owner.stdout.readline() == "closed\n"
    assert _mine(owner.pid) == []
    with pytest.raises(FileNotFoundError):
        os.stat(f"/proc/{owner.pid}/fd/{fd}")


def test_sigkill_of_the_owner_leaves_nothing_behind():
    netns_before = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    with subprocess.Popen([sys.executable, "-c", OWNER], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as p:  # fmt: skip
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        (t,) = _mine(p.pid)
        ns = os.stat(f"/proc/{p.pid}/fd/{t['nodes']['a']['fds']['net']}")
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert _mine(p.pid) == []
    r = _pyns("topology", "exec", str(p.pid), "a", "true")
    assert r.returncode == 125 and r.stderr == f"pyns: no process {p.pid}\n"
    after = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    assert after == netns_before
    held = []  # no process holds host a's network namespace any more
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            st = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (ns.st_dev, ns.st_ino):
            held.append(pid)
    assert held == []


def test_topology_usage():
    r = _pyns("topology", "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage:\n pyns topology ls [--json]\n")
    assert "topology  live pyns topologies" in _pyns("--help").stdout
    r = _pyns("topology")
    assert r.returncode == 1 and "no subcommand given" in r.stderr


@pytest.mark.requires_userns
def test_a_rootless_topology_is_entered_through_its_user_namespace(nobody):
    """As uid 65534: the owner builds its topology inside a user namespace of its own; the
    same user's `pyns topology exec` joins that user namespace first, then the node's."""
    code = f"""
import json, subprocess, sys
import pyns
owner = pyns.spawn([sys.executable, "-c", {OWNER!r}], user=True, map_root=True,
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
try:
    assert owner.stdout.readline() == b"ready\\n"
    ls = subprocess.run([sys.executable, "-m", "pyns", "topology", "ls", "--json"],
                        capture_output=True, text=True, check=True).stdout
    print([list(t["nodes"]) for t in json.loads(ls)["topologies"] if t["pid"] == owner.pid])
    r = subprocess.run([sys.executable, "-m", "pyns", "topology", "exec", str(owner.pid), "a",
                        "--", "sh", "-c", "hostname; id -u; ip -br addr show eth0"],
                       capture_output=True, text=True)
    print(r.returncode, r.stdout, r.stderr)
finally:
    owner.kill()
    owner.wait()
"""
    r = nobody(code)
    lines = r.stdout.splitlines()
    assert lines[0] == "[['a', 'b', 's']]", r.stdout + r.stderr
    assert lines[1:3] == ["0 a", "0"], r.stdout  # root of the owner's user namespace
    assert "10.8.0.1/24" in lines[3]
