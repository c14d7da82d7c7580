"""The `pyns` command line (also `python -m pyns`): run, enter, ls, netns, tour; exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

import pyns

PYNS = [sys.executable, "-m", "pyns"]


def _lsns_json(*args: str) -> dict:
    out = subprocess.run([*PYNS, "ls", "--json", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_ls_lists_a_fresh_namespace_with_its_process(wait_for_comm):
    p = subprocess.Popen(["unshare", "--uts", "sleep", "30"])
    try:
        wait_for_comm(p.pid, "sleep")  # unshare has made the namespace and exec'd sleep
        ino = os.stat(f"/proc/{p.pid}/ns/uts").st_ino
        rows = _lsns_json("-t", "uts")["namespaces"]
        mine = [r for r in rows if r["ns"] == ino]
        assert mine == [
            {
                "ns": ino,
                "type": "uts",
                "nprocs": 1,
                "pid": p.pid,
                "user": "root",
                "command": "sleep 30",
            }
        ]
        assert all(r["type"] == "uts" for r in rows)
    finally:
        p.kill()
        p.wait()


def test_ls_agrees_with_lsns_for_this_process():
    ours = {(r["ns"], r["type"]) for r in _lsns_json("-p", str(os.getpid()))["namespaces"]}
    out = subprocess.run(
        ["lsns", "-J", "-p", str(os.getpid()), "-o", "NS,TYPE"], capture_output=True, text=True
    )
    theirs = {(int(r["ns"]), r["type"]) for r in json.loads(out.stdout)["namespaces"]}
    assert ours == theirs


def test_ls_table_and_console_script():
    out = subprocess.run([*PYNS, "ls"], capture_output=True, text=True, check=True).stdout
    header = out.splitlines()[0].split()
    assert header == ["NS", "TYPE", "NPROCS", "PID", "USER", "COMMAND"]
    script = os.path.join(os.path.dirname(sys.executable), "pyns")
    assert subprocess.run([script, "ls", "-t", "net"], capture_output=True).returncode == 0


def test_bad_input_is_usage_and_exit_1_as_lsns():
    r = subprocess.run([*PYNS, "ls", "-p", "99999999"], capture_output=True, text=True)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")  # as lsns: no rows
    r = subprocess.run([*PYNS, "ls", "-t", "bogus"], capture_output=True, text=True)
    assert r.returncode == 1 and "pyns ls: unknown namespace type: bogus" in r.stderr
    assert "Usage:\n pyns ls [options]" in r.stderr


# --- pyns run (like unshare --fork) --------------------------------------------------------


def _pyns(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYNS, *args], capture_output=True, text=True, timeout=60, **kw)


def test_run_pid_makes_the_program_pid_1_and_init_pid_2():
    assert _pyns("run", "--pid", "--", "sh", "-c", "echo $$").stdout == "1\n"
    assert _pyns("run", "-p", "--init", "--", "sh", "-c", "echo $$").stdout == "2\n"
    assert _pyns("run", "-p", "sh", "-c", "echo $$").stdout == "1\n"  # no `--` needed


def test_run_flags_make_the_namespaces():
    r = _pyns("run", "--uts", "--hostname", "inside", "--", "hostname")
    assert (r.returncode, r.stdout) == (0, "inside\n")
    assert socket.gethostname() != "inside"
    r = _pyns("run", "-n", "-i", "-m", "-C", "-T", "--", "readlink", *_NS_LINKS)
    mine = [os.readlink(p) for p in _NS_LINKS]
    theirs = r.stdout.split()
    assert r.returncode == 0 and len(theirs) == 5 and all(a != b for a, b in zip(mine, theirs))
    r = _pyns("run", "-p", "--mount-proc", "--", "sh", "-c", "echo /proc/[0-9]*")
    assert r.stdout == "/proc/1\n"  # a fresh /proc: only the shell, PID 1


_NS_LINKS = [f"/proc/self/ns/{k}" for k in ("net", "ipc", "mnt", "cgroup", "time_for_children")]


def test_run_user_map_root_and_time_offsets():
    assert _pyns("run", "-r", "--", "id", "-u").stdout == "0\n"
    assert _pyns("run", "-U", "--", "id", "-u").stdout == "65534\n"
    r = _pyns("run", "-T", "--boottime", "86400", "--", "cat", "/proc/uptime")
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    assert abs(float(r.stdout.split()[0]) - host - 86400) < 30


def test_run_exit_codes_follow_util_linux():
    assert _pyns("run", "--", "sh", "-c", "exit 7").returncode == 7
    assert _pyns("run", "--", "sh", "-c", "kill -TERM $$").returncode == 128 + 15
    r = _pyns("run", "--", "no-such-program-xyz")
    assert r.returncode == 127
    assert r.stderr == "pyns: failed to execute no-such-program-xyz: No such file or directory\n"
    r = _pyns("run", "--", "/etc/passwd")
    assert r.returncode == 126 and r.stderr.count("\n") == 1 and "Permission denied" in r.stderr
    r = _pyns("--debug", "run", "--", "no-such-program-xyz")
    assert r.returncode == 127 and "Traceback" in r.stderr  # --debug keeps the status


def test_run_setup_failure_is_125_with_the_fix_as_nobody(nobody):
    r = nobody(
        """
        import sys
        from pyns.cli import main
        print(main(["run", "-u", "--", "true"]))
        sys.stdout.flush()
        print(main(["run", "-r", "-u", "--hostname", "rootless", "--", "hostname"]))
        """
    )
    assert r.stdout == "125\nrootless\n0\n", r.stderr
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("pyns: clone3(CLONE_NEWUTS): Operation not permitted")
    assert "add -r" in r.stderr


def test_run_forwards_sigterm_to_the_program():
    with subprocess.Popen(
        [*PYNS, "run", "-p", "--init", "--", "sh", "-c",
         "trap 'echo TERM; exit 3' TERM; echo ready; sleep 30 & wait"],
        stdout=subprocess.PIPE, text=True,
    ) as p:  # fmt: skip
        try:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=10) == 3
            assert p.stdout.read() == "TERM\n"
        finally:
            p.kill()


def test_ctrl_c_reaches_the_program_and_pyns_returns_its_status():
    # The terminal sends SIGINT to the foreground group: pyns drops it, the program gets it
    # (it must not inherit pyns' own way of ignoring it) and pyns exits as it did.
    with subprocess.Popen(
        [*PYNS, "run", "-p", "--init", "--", "sh", "-c",
         "grep SigIgn /proc/self/status; echo ready; exec sleep 30"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    ) as p:  # fmt: skip
        try:
            assert p.stdout is not None
            assert p.stdout.readline() == "SigIgn:\t0000000000000000\n"
            assert p.stdout.readline() == "ready\n"
            os.killpg(p.pid, signal.SIGINT)
            assert p.wait(timeout=10) == 128 + signal.SIGINT
        finally:
            p.kill()


# --- pyns enter (like nsenter) -------------------------------------------------------------


def test_enter_target_kinds_and_all():
    with pyns.spawn(["sleep", "30"], uts=True, net=True, hostname="target") as p:
        try:
            r = _pyns("enter", "-t", str(p.pid), "-u", "--", "hostname")
            assert (r.returncode, r.stdout) == (0, "target\n")
            r = _pyns("enter", "-t", str(p.pid), "-a", "--", "readlink", "/proc/self/ns/net")
            assert r.stdout.strip() == os.readlink(f"/proc/{p.pid}/ns/net")
            r = _pyns("enter", "-t", str(p.pid), "--", "hostname")  # no kinds: none (nsenter)
            assert r.stdout == socket.gethostname() + "\n"
            r = _pyns("enter", "-t", str(p.pid), "-n", "--", "sh", "-c", "exit 5")
            assert r.returncode == 5
        finally:
            p.kill()


def test_enter_errors():
    r = _pyns("enter", "-n", "--", "true")
    assert r.returncode == 1 and "neither filename nor target pid supplied for ns/net" in r.stderr
    r = _pyns("enter", "-t", "99999999", "-n", "--", "true")
    assert r.returncode == 125 and r.stderr.count("\n") == 1
    r = _pyns("enter", "-t", str(os.getpid()), "-u", "--", "no-such-program-xyz")
    assert r.returncode == 127


# --- pyns netns (like ip netns) ------------------------------------------------------------


@pytest.mark.private_mounts  # `ip netns add` makes /run/netns a mount point for good
def test_netns_add_ls_exec_del_interoperate_with_ip_netns():
    name = f"pyns-cli-{os.getpid()}"
    try:
        assert _pyns("netns", "add", name).returncode == 0
        assert name in _ip("netns", "list")
        assert name in _pyns("netns", "ls").stdout.split()
        r = _pyns("netns", "exec", name, "--", "ip", "-o", "link")
        assert [line.split(":")[1].strip() for line in r.stdout.splitlines()] == ["lo"]
        inode = os.stat(f"/run/netns/{name}").st_ino
        r = _pyns("netns", "exec", name, "--", "readlink", "/proc/self/ns/net")
        assert r.stdout.strip() == f"net:[{inode}]"
        assert _pyns("netns", "del", name).returncode == 0
        assert name not in _ip("netns", "list")
        r = _pyns("netns", "del", name)
        assert r.returncode == 125 and r.stderr.count("\n") == 1
        # and the other way round: what `ip netns add` makes, pyns uses
        subprocess.run(["ip", "netns", "add", name], check=True)
        assert name in _pyns("netns", "list").stdout.split()
        r = _pyns("netns", "exec", name, "--", "readlink", "/proc/self/ns/net")
        assert r.stdout.strip() == f"net:[{os.stat(f'/run/netns/{name}').st_ino}]"
        assert _pyns("netns", "delete", name).returncode == 0
    finally:
        if os.path.exists(f"/run/netns/{name}"):
            subprocess.run(["ip", "netns", "del", name])


@pytest.mark.private_mounts
def test_netns_ls_lists_a_name_whose_mount_is_gone_as_ip_does():
    """A file in /run/netns that is no namespace (its bind mount is gone, or made in another
    mount namespace): listed by name, without an id, as `ip netns list` does; not an error."""
    name = f"pyns-stale-{os.getpid()}"
    with pyns.isolate(mnt=True):
        pyns.mount.tmpfs("/run/netns")  # this test's names only, gone with its mounts
        open(f"/run/netns/{name}", "w").close()
        r = _pyns("netns", "ls")
        assert (r.returncode, r.stdout.split()) == (0, _ip("netns", "list").split())
        assert r.stdout.split() == [name]
        assert _pyns("netns", "identify").returncode == 0


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


# --- pyns tour ---------------------------------------------------------------------------


@pytest.mark.private_mounts  # the tour names a netns: /run/netns becomes a mount point
def test_tour_as_root_runs_every_experiment():
    r = _pyns("tour", cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for kind in ("UTS", "IPC", "PID", "mount", "network", "user", "cgroup", "time"):
        assert f"\n{kind} namespace" in out
    assert "✓ hostname\n      inside:  NewNamespace" in out
    assert "✗" not in out and "– skipped" not in out
    assert "Summary: 8 experiments, 16 checks passed, 0 skipped, 0 failed." in out


def test_tour_as_nobody_skips_what_needs_root_and_says_why(nobody):
    r = nobody("import sys; from pyns.cli import main; sys.exit(main(['tour']))")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "as uid 65534" in r.stdout
    assert "– skipped: a named namespace, seen by `ip netns`: needs root" in r.stdout
    assert "– skipped: a process moved into a fresh cgroup: needs root" in r.stdout
    assert "Summary: 8 experiments, 14 checks passed, 2 skipped, 0 failed." in r.stdout


def test_tour_without_user_namespaces_skips_everything_with_the_reason(pyns_without_user_namespaces):
    returncode, out = pyns_without_user_namespaces("tour")
    assert returncode == 0, out
    assert out.count("skipped: needs a user namespace, and creating one failed") == 8
    assert "user.max_user_namespaces=0" in out
    assert "0 checks passed, 8 skipped, 0 failed" in out
