"""`pyns run/enter/ls/netns` side by side with util-linux's unshare/nsenter/lsns and iproute2's
`ip netns`: the same flags give the same exit status and output."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile

import pytest

import pyns

PYNS = [sys.executable, "-m", "pyns"]


def _run(argv: list[str], **kw) -> tuple[int, str]:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    return r.returncode, r.stdout


def _pyns(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYNS, *args], capture_output=True, text=True, timeout=60, **kw)


def same_as_unshare(*args: str, **kw) -> tuple[int, str]:
    """`pyns run ARGS` and `unshare --fork ARGS`: asserts the same status and stdout."""
    ours = _run([*PYNS, "run", *args], **kw)
    theirs = _run(["unshare", "--fork", *args], **kw)
    assert ours == theirs, (args, ours, theirs)
    return ours


@pytest.mark.parametrize(
    "args",
    [
        ["--map-user=1000", "id"],
        ["--map-user", "nobody", "id", "-u"],
        ["--map-group=100", "id"],
        ["-U", "--map-current-user", "id"],
        ["-c", "id"],
        ["-r", "id"],
        ["--map-user=1000", "--map-group=100", "id"],
        ["--map-user=0", "--setgroups=deny", "cat", "/proc/self/setgroups"],
        ["-U", "--setgroups=allow", "cat", "/proc/self/setgroups"],
        ["-U", "--setgroups", "deny", "cat", "/proc/self/setgroups"],
        ["-f", "-r", "id", "-u"],
        ["-r", "--keep-caps", "grep", "^Cap", "/proc/self/status"],
        ["-r", "grep", "^Cap", "/proc/self/status"],
        ["-w", "/tmp", "pwd"],
        ["--wd=/etc", "pwd"],
        ["-R", "/", "-w", "/tmp", "pwd"],
        ["--root=/", "pwd"],
        ["-S", "65534", "-G", "65534", "id"],
        ["--setuid=65534", "id", "-u"],
        ["-T", "--monotonic", "100", "--boottime=200", "cat", "/proc/self/timens_offsets"],
        ["-m", "--propagation", "slave", "findmnt", "-no", "PROPAGATION", "/"],
        ["-m", "--propagation=shared", "findmnt", "-no", "PROPAGATION", "/"],
        ["-m", "--propagation", "private", "findmnt", "-no", "PROPAGATION", "/"],
        ["-m", "--propagation", "unchanged", "findmnt", "-no", "PROPAGATION", "/"],
        ["-p", "--mount-proc", "sh", "-c", "echo /proc/[0-9]*"],
        ["-r", "-p", "--mount-proc", "sh", "-c", "echo /proc/[0-9]*"],
        ["--uts", "--net", "--ipc", "sh", "-c", "exit 3"],
    ],
)
def test_run_flags_as_unshare(args: list[str]) -> None:
    same_as_unshare(*args)


def test_run_mount_proc_elsewhere_and_usage_errors_as_unshare() -> None:
    with tempfile.TemporaryDirectory() as d:
        code, out = same_as_unshare("-p", f"--mount-proc={d}", "sh", "-c", f"echo {d}/[0-9]*")
        assert (code, out) == (0, f"{d}/1\n")
    for bad in (
        ["--bogus", "true"],
        ["-t", "true"],
        ["--propagation", "bogus", "true"],
        ["--kill-child=BOGUS", "true"],
        ["-r", "--setgroups=allow", "true"],
        ["--map-user"],
        ["--fork=1", "true"],
    ):
        ours = _pyns("run", *bad)
        theirs = subprocess.run(["unshare", *bad], capture_output=True, text=True)
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (1, ""), bad
        first = ours.stderr.splitlines()[0]
        assert first.startswith("pyns run: ") and "Usage:\n pyns run [options]" in ours.stderr


def test_run_map_users_via_newuidmap_as_unshare(nobody) -> None:
    # newuidmap reads /etc/subuid: give nobody a range in a mount namespace of the test only.
    with tempfile.NamedTemporaryFile("w", suffix=".subid", delete=False) as f:
        f.write("nobody:200000:1000\n")
    os.chmod(f.name, 0o644)
    try:
        script = f"""
            set -e
            mount --bind {f.name} /etc/subuid; mount --bind {f.name} /etc/subgid
            for tool in "{sys.executable} -m pyns run" "unshare --fork"; do
              setpriv --reuid=65534 --regid=65534 --clear-groups $tool \\
                --map-users=200000,0,1000 --map-groups=200000,0,1000 cat /proc/self/uid_map
              setpriv --reuid=65534 --regid=65534 --clear-groups $tool \\
                --map-users=200000,0,1000 --map-group=0 cat /proc/self/uid_map /proc/self/gid_map
              setpriv --reuid=65534 --regid=65534 --clear-groups $tool --map-auto \\
                cat /proc/self/uid_map
            done
        """
        r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        half = len(lines) // 2
        assert lines[:half] == lines[half:] and half == 4
        assert lines[0].split() == ["0", "200000", "1000"]
        r = subprocess.run(["unshare", "-m", "sh", "-c", script.split("for")[0] + f"""
            setpriv --reuid=65534 --regid=65534 --clear-groups {sys.executable} -m pyns run \\
                --map-users=0:200000:1000 cat /proc/self/uid_map"""],
                           capture_output=True, text=True)  # fmt: skip
        assert (r.returncode, r.stdout.split()) == (0, ["0", "200000", "1000"]), r.stderr
    finally:
        os.unlink(f.name)


def test_run_persists_namespaces_to_files_as_unshare() -> None:
    with tempfile.TemporaryDirectory() as d, pyns.isolate(mnt=True):
        ours, theirs = os.path.join(d, "ours"), os.path.join(d, "theirs")
        for path in (ours, theirs):
            open(path, "w").close()
        r = _pyns("run", f"--uts={ours}", "--net", "--hostname", "kept", "true")
        assert r.returncode == 0, r.stderr
        subprocess.run(["unshare", f"--uts={theirs}", "hostname", "kept2"], check=True)
        try:
            assert _run(["nsenter", f"--uts={ours}", "hostname"]) == (0, "kept\n")
            assert _run([*PYNS, "enter", f"--uts={theirs}", "hostname"]) == (0, "kept2\n")
            r = _pyns("run", f"--net={ours}x", "-r", "true")  # FILE must be in reach: created
            assert r.returncode == 125 or r.returncode == 0
        finally:
            for path in (ours, theirs, ours + "x"):
                subprocess.run(["umount", path], capture_output=True)


@pytest.mark.parametrize("tool", ["pyns", "unshare"])
def test_run_kill_child_kills_the_program_when_pyns_dies(tool: str) -> None:
    argv = [*PYNS, "run"] if tool == "pyns" else ["unshare", "--fork"]
    p = subprocess.Popen(
        [*argv, "--kill-child=TERM", "sh", "-c", "echo $$; exec sleep 60"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert p.stdout is not None
    with p.stdout:
        child = int(p.stdout.readline())
    pidfd = os.pidfd_open(child)
    try:
        p.kill()
        p.wait()
        assert select.select([pidfd], [], [], 30)[0] == [pidfd]  # the program died too
    finally:
        os.close(pidfd)


def test_run_without_kill_child_leaves_the_program_running(wait_for_comm) -> None:
    p = subprocess.Popen([*PYNS, "run", "sh", "-c", "echo $$; exec sleep 60"],
                         stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert p.stdout is not None
    with p.stdout:
        child = int(p.stdout.readline())
    pidfd = os.pidfd_open(child)
    try:
        wait_for_comm(child, "sleep")
        p.kill()
        p.wait()  # pyns is gone; a parent-death signal would have been sent by now
        assert select.select([pidfd], [], [], 0)[0] == []  # the program still runs
    finally:
        os.kill(child, signal.SIGKILL)
        os.close(pidfd)


# --- enter / nsenter -----------------------------------------------------------------------


@pytest.fixture
def target():
    """A sleep in new uts/net/user namespaces (fake root) with cwd /tmp and hostname 'target'."""
    p = pyns.spawn(["sleep", "60"], uts=True, net=True, map_root=True, hostname="target",
                   cwd="/tmp", env={"PATH": os.environ["PATH"], "MARK": "m1"})  # fmt: skip
    yield p.pid
    p.kill()
    p.wait()


@pytest.mark.parametrize(
    "args",
    [
        ["-t", "{pid}", "-u", "hostname"],
        ["-t", "{pid}", "--uts", "hostname"],
        ["--uts=/proc/{pid}/ns/uts", "hostname"],
        ["-u/proc/{pid}/ns/uts", "hostname"],
        ["-t", "{pid}", "-a", "hostname"],
        ["--all", "--target={pid}", "id", "-u"],
        ["-t", "{pid}", "-U", "id"],
        ["-t", "{pid}", "-U", "--preserve-credentials", "id", "-u"],
        ["-t", "{pid}", "-U", "-S", "0", "-G", "0", "id"],
        ["-t", "{pid}", "-n", "-u", "sh", "-c", "hostname; exit 4"],
        ["-t", "{pid}", "-w", "pwd"],
        ["-t", "{pid}", "-w/etc", "pwd"],
        ["-t", "{pid}", "-r", "pwd"],
        ["-t", "{pid}", "-F", "-u", "hostname"],
        ["-t", "{pid}", "hostname"],
    ],
)
def test_enter_flags_as_nsenter(target: int, args: list[str]) -> None:
    args = [a.replace("{pid}", str(target)) for a in args]
    ours = _run([*PYNS, "enter", *args], cwd="/")
    theirs = _run(["nsenter", *args], cwd="/")
    assert ours == theirs, (args, ours, theirs)


def test_enter_env_and_usage_errors(target: int) -> None:
    r = _pyns("enter", "-t", str(target), "-e", "-u", "sh", "-c", "echo $MARK")
    assert (r.returncode, r.stdout) == (0, "m1\n")
    for bad in (["--bogus"], ["-n", "true"], ["-t"], ["-Q"]):
        ours = _pyns("enter", *bad)
        theirs = subprocess.run(["nsenter", *bad], capture_output=True, text=True)
        assert ours.returncode == theirs.returncode == 1, bad
        assert "Usage:\n pyns enter" in ours.stderr


# --- ls / lsns -----------------------------------------------------------------------------


def _same_as_lsns(*args: str) -> str:
    """Runs both (again when a process came or went in between, which either may have seen);
    their common stdout."""
    for _ in range(5):
        ours = _run([*PYNS, "ls", *args])
        theirs = _run(["lsns", *args])
        again = _run([*PYNS, "ls", *args])
        if ours == again == theirs:
            break
    assert ours == theirs, (args, ours[1], theirs[1])
    return ours[1]


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.fixture
def sleeper():
    """A sleep with a child sleep in new mount, uts, ipc and net namespaces; its pid and the
    inode of its uts namespace. Its other namespaces are PID 1's. (In the test session's mount
    namespace, once pids wrap around, `pyns ls` or `lsns` itself can be the lowest pid, and
    each would list itself.)"""
    p = subprocess.Popen(["unshare", "--mount", "--uts", "--ipc", "--net", "sh", "-c",
                          "sleep 60 & exec sleep 60"])  # fmt: skip
    try:
        children = f"/proc/{p.pid}/task/{p.pid}/children"
        while not os.readlink(f"/proc/{p.pid}/exe").endswith("sleep") or not _read(children):
            select.select([], [], [], 0.01)
        yield p.pid, os.stat(f"/proc/{p.pid}/ns/uts").st_ino
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize(
    "args",
    [
        ["{ns}"],
        ["-J", "{ns}"],
        ["-n", "{ns}"],
        ["-r", "{ns}"],
        ["-l", "{ns}"],
        ["-u", "{ns}"],
        ["-o", "NS,TYPE,PID", "{ns}"],
        ["--output=+PATH,PPID,UID,PNS,ONS", "{ns}"],
        ["-o", "NS,TYPE,NETNSID,NSFS", "-t", "net", "-p", "{pid}"],
        ["-J", "-o", "NS,TYPE,NETNSID,NSFS,PNS,ONS", "-t", "net", "-p", "{pid}"],
        ["-t", "net", "-t", "uts", "-p", "{pid}", "-o", "NS,TYPE,PID,USER,COMMAND"],
        ["-p", "{pid}", "-o", "NS,TYPE,PID,PPID,COMMAND"],
        ["-p", "{pid}", "-J", "-o", "NS,TYPE,PID,COMMAND"],
        ["-p", "{pid}", "-l", "-r", "-o", "NS,TYPE,PID,COMMAND"],
        ["-o", "NS,TYPE,NPROCS,PID,PPID,COMMAND", "{ns}"],
        ["-J", "-o", "PID,COMMAND", "{ns}"],
        ["-l", "{ns}"],
        ["-t", "net", "{ns}"],
        ["-o", "NS,TYPE,PID,PPID", "-t", "time"],  # PID 2, PPID 0: narrower than the hints
        ["-o", "NS,TYPE,PNS,ONS", "-t", "uts"],
        ["--output-all", "{ns}"],
        ["999"],
        ["-t", "bogus"],
        ["-o", "BOGUS"],
        ["--bogus"],
    ],
)
def test_ls_as_lsns(sleeper, args: list[str]) -> None:
    pid, ns = sleeper
    _same_as_lsns(*[a.replace("{pid}", str(pid)).replace("{ns}", str(ns)) for a in args])


def test_ls_column_widths_as_libsmartcols() -> None:
    # As lsns 2.38 printed them: a width hint (5 for TYPE, PID and PPID) widens a column only
    # when its values, not its heading, set the width.
    from pyns.lsns import _width

    assert _width("PID", ["2"]) == 3
    assert _width("PID", ["2", "3193"]) == 5
    assert _width("PPID", ["0", "256"]) == 4
    assert _width("PPID", ["0", "1234"]) == 5
    assert _width("PPID", ["123456"]) == 6
    assert _width("TYPE", ["net", "uts"]) == 4
    assert _width("TYPE", ["net", "user"]) == 5
    assert _width("TYPE", ["cgroup"]) == 6
    assert _width("PNS", ["0"]) == 3
    assert _width("COMMAND", ["sleep 60"]) == 8


def test_ls_nsfs_and_netnsid_of_named_namespaces_as_lsns() -> None:
    name = f"pyns-ls-{os.getpid()}"
    with pyns.isolate(mnt=True):
        pyns.mount.tmpfs("/run/netns")  # names of this test only, gone with its mounts
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "netns", "set", name, "7"], check=True)
        p = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
        try:
            while os.readlink(f"/proc/{p.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
                select.select([], [], [], 0.01)
            out = _same_as_lsns("-t", "net", "-p", str(p.pid), "-o", "NS,NETNSID,NSFS")
            assert f"7 /run/netns/{name}" in out
            j = json.loads(_same_as_lsns("-J", "-t", "net", "-p", str(p.pid)))
            assert j["namespaces"][0]["nsfs"] == f"/run/netns/{name}"
        finally:
            p.kill()
            p.wait()
            subprocess.run(["ip", "netns", "del", name])


# --- netns / ip netns ----------------------------------------------------------------------


def test_netns_commands_as_ip_netns() -> None:
    a, b = f"pyns-a-{os.getpid()}", f"pyns-b-{os.getpid()}"
    with pyns.isolate(mnt=True):
        pyns.mount.tmpfs("/run/netns")  # names of this test only, gone with its mounts
        try:
            assert _pyns("netns", "add", a).returncode == 0
            subprocess.run(["ip", "netns", "add", b], check=True)
            subprocess.run(["ip", "netns", "set", b, "5"], check=True)
            for cmd in (["list"], [], ["ls"], ["show"]):
                assert _run([*PYNS, "netns", *cmd]) == _run(["ip", "netns", *cmd])
            p = subprocess.Popen(["ip", "netns", "exec", a, "sleep", "60"])
            try:
                while os.readlink(f"/proc/{p.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
                    select.select([], [], [], 0.01)
                for cmd in (["identify", str(p.pid)], ["pids", a], ["identify"], ["pids", b]):
                    assert _run([*PYNS, "netns", *cmd]) == _run(["ip", "netns", *cmd]), cmd
                assert _pyns("netns", "attach", "c-" + a, str(p.pid)).returncode == 0
                assert f"c-{a}" in _pyns("netns", "identify", str(p.pid)).stdout.split()
            finally:
                p.kill()
                p.wait()
            for cmd in (["exec", a, "ip", "-o", "link"], ["exec", a, "sh", "-c", "exit 3"]):
                assert _run([*PYNS, "netns", *cmd]) == _run(["ip", "netns", *cmd]), cmd
            r = _pyns("netns", "exec", a, "--", "readlink", "/proc/self/ns/net")
            assert r.stdout.strip() == f"net:[{os.stat(f'/run/netns/{a}').st_ino}]"
            for bad in (["exec"], ["add"], ["delete"], ["bogus"]):
                ours = _pyns("netns", *bad)
                theirs = subprocess.run(["ip", "netns", *bad], capture_output=True, text=True)
                assert ours.returncode == theirs.returncode, bad
        finally:
            for n in (a, b, "c-" + a):
                subprocess.run(["ip", "netns", "del", n], capture_output=True)


# --- version, usage ------------------------------------------------------------------------


def test_version_and_usage() -> None:
    r = _pyns("--version")
    assert (r.returncode, r.stdout) == (0, f"pyns {pyns.__version__}\n")
    assert pyns.__version__[0].isdigit()
    assert _pyns("run", "-V").stdout == f"pyns run from pyns {pyns.__version__}\n"
    r = _pyns("run", "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage:\n pyns run [options]")
    assert "--map-users" in r.stdout and "--kill-child" in r.stdout
    r = _pyns("bogus")
    assert r.returncode == 1 and "Commands:" in r.stderr
