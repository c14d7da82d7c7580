"""spawn/run with subprocess.Popen's user, group, extra_groups, umask, start_new_session and
process_group: each compared with Popen side by side (``id``, ``umask``, ``ps -o
pid,pgid,sid``), as root, inside user namespaces, and as uid 65534; bad values are named
before anything starts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from subprocess import PIPE

import pytest

import pyns
import pyns.aio

NOBODY = 65534
SESSION = ["sh", "-c", "exec ps -o pid=,pgid=,sid= -p $$"]


@pytest.fixture(autouse=True)
def no_child_left():
    yield
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # every child reaped, none a zombie


def output(args: list[str], **kw) -> str:
    """What pyns.spawn(args, **kw) prints; it must exit 0."""
    p = pyns.spawn(args, stdout=PIPE, text=True, **kw)
    out, _ = p.communicate()
    assert p.returncode == 0, (args, kw)
    return out


def popen_output(args: list[str], **kw) -> str:
    """What subprocess.Popen(args, **kw) prints; it must exit 0."""
    return subprocess.run(args, stdout=PIPE, text=True, check=True, **kw).stdout


def session(out: str, **known: int) -> tuple[str, str, str]:
    """``ps -o pid=,pgid=,sid=`` as roles: "self" for the process's own pid, a name of `known`
    for its value, else the number."""
    pid, pgid, sid = (int(x) for x in out.split())
    names = {pid: "self", **{v: k for k, v in known.items()}}
    return tuple(names.get(n, str(n)) for n in (pid, pgid, sid))  # type: ignore[return-value]


ME = {"my_group": os.getpgid(0), "my_session": os.getsid(0)}


@pytest.mark.parametrize(
    "kw",
    [
        {"user": "nobody", "group": "nogroup", "extra_groups": []},
        {"user": NOBODY},  # the supplementary groups stay (as Popen)
        {"group": NOBODY},
        {"user": 1, "group": 1, "extra_groups": ["nogroup", 2, 3]},
        {"extra_groups": [5, 7]},
        {"user": 0, "group": 0, "extra_groups": ()},
    ],
)
def test_identity_as_popen(kw):
    args = ["sh", "-c", "id -u; id -g; id -G"]
    assert output(args, **kw) == popen_output(args, **kw)


@pytest.mark.parametrize("mask", [0, 0o022, 0o027, 0o077, 0o777, -1])
def test_umask_as_popen(mask, tmp_path):
    assert output(["sh", "-c", "umask"], umask=mask) == popen_output(
        ["sh", "-c", "umask"], umask=mask
    )
    for who, start in (("pyns", pyns.spawn), ("popen", subprocess.Popen)):
        assert start(["touch", str(tmp_path / who)], umask=mask).wait() == 0
    current = os.umask(0)
    os.umask(current)
    modes = {who: (tmp_path / who).stat().st_mode & 0o777 for who in ("pyns", "popen")}
    assert modes["pyns"] == modes["popen"] == 0o666 & ~(current if mask == -1 else mask)


def test_umask_none_leaves_it():
    old = os.umask(0o037)
    try:
        assert output(["sh", "-c", "umask"], umask=None) == "0037\n"
    finally:
        os.umask(old)


def test_start_new_session_as_popen():
    for start_new_session in (True, False):
        ours = session(output(SESSION, start_new_session=start_new_session), **ME)
        theirs = session(popen_output(SESSION, start_new_session=start_new_session), **ME)
        assert ours == theirs
    assert ours == ("self", "my_group", "my_session")
    assert session(output(SESSION, start_new_session=True)) == ("self", "self", "self")


def test_process_group_as_popen():
    assert session(output(SESSION, process_group=0), **ME) == ("self", "self", "my_session")
    assert session(popen_output(SESSION, process_group=0), **ME) == ("self", "self", "my_session")
    leader = pyns.spawn(["sleep", "60"], process_group=0)
    try:
        both = [
            session(output(SESSION, process_group=leader.pid), leader=leader.pid, **ME),
            session(popen_output(SESSION, process_group=leader.pid), leader=leader.pid, **ME),
        ]
        assert both == [("self", "leader", "my_session")] * 2
    finally:
        leader.kill()
        leader.wait()


def test_process_group_of_another_session_is_refused_as_popen():
    with pytest.raises(PermissionError):
        subprocess.Popen(["true"], process_group=1)
    with pytest.raises(PermissionError) as e:
        pyns.spawn(["true"], process_group=1)
    assert e.value.step == "join process group 1 (setpgid)"
    assert "own session" in "".join(e.value.__notes__)


def test_in_a_new_pid_namespace_the_program_gets_them():
    """With pyns' init as PID 1, it is the program (PID 2) that leads the new session."""
    out = output(SESSION, pid=True, mount_proc=True, start_new_session=True)
    assert session(out) == ("self", "self", "self")
    assert int(out.split()[0]) == 2
    assert output(["id", "-u"], pid=True, mount_proc=True, user="nobody") == f"{NOBODY}\n"


def test_ids_are_those_of_the_new_user_namespace():
    kw = {"user": 1000, "group": 1000, "extra_groups": [10, 20]}
    with tempfile.TemporaryDirectory(dir="/tmp") as shared:  # pytest's tmp_path is root's only
        os.chmod(shared, 0o777)
        check_ids_through_maps(kw, Path(shared))


def check_ids_through_maps(kw, tmp_path):
    script = f"id -u; id -g; id -G; touch {tmp_path}/f"
    inside = output(
        ["sh", "-c", script], uid_map=[(0, 100000, 65536)], gid_map=[(0, 100000, 65536)],
        setgroups="allow", **kw,
    )  # fmt: skip
    assert (
        inside
        == popen_output(["sh", "-c", "id -u; id -g; id -G"], **kw)
        == "1000\n1000\n1000 10 20\n"
    )
    st = (tmp_path / "f").stat()
    assert (st.st_uid, st.st_gid) == (101000, 101000)  # the same ids outside, through the maps


def test_an_id_outside_the_map_is_a_child_error():
    with pytest.raises(pyns.ChildError) as e:
        pyns.spawn(["true"], map_root=True, user=5)
    assert (e.value.step, e.value.errno) == ("set the uid to 5 (setresuid)", 22)
    with pytest.raises(pyns.ChildError) as e:
        pyns.spawn(["true"], map_root=True, group=7)
    assert (e.value.step, e.value.errno) == ("set the gid to 7 (setresgid)", 22)


def test_setgroups_denied_in_a_joined_user_namespace_is_a_permission_error():
    holder = pyns.spawn(["sleep", "60"], map_root=True)  # setgroups "deny" in it
    try:
        with pytest.raises(PermissionError) as e:
            pyns.spawn(["true"], join={"user": f"/proc/{holder.pid}/ns/user"}, extra_groups=[0])
        assert e.value.step == "set 1 supplementary groups (setgroups)"
        assert 'setgroups="allow"' in "".join(e.value.__notes__)
    finally:
        holder.kill()
        holder.wait()


def test_chdir_comes_before_the_uid_change_as_popen(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    kw = {"cwd": private, "user": NOBODY}
    assert output(["id", "-u"], **kw) == popen_output(["id", "-u"], **kw) == f"{NOBODY}\n"


def test_an_unexecutable_program_after_the_uid_change_as_popen(tmp_path):
    prog = tmp_path / "prog"
    prog.write_text("#!/bin/sh\ntrue\n")
    prog.chmod(0o700)  # root's only
    for start in (pyns.spawn, subprocess.Popen):
        with pytest.raises(PermissionError):
            start([str(prog)], user=NOBODY)


def test_the_parent_death_signal_survives_the_uid_change():
    """Changing the uid clears PR_SET_PDEATHSIG (prctl(2)): the child sets it again."""
    started: list[pyns.Process] = []
    t = threading.Thread(
        target=lambda: started.append(pyns.spawn(["sleep", "60"], user=NOBODY, group=NOBODY))
    )
    t.start()
    t.join()
    (p,) = started
    try:
        assert p.wait(timeout=30) == -signal.SIGKILL
    finally:
        p.kill()
        p.wait()


def test_run_takes_them_too():
    def probe():
        return (
            os.getresuid(),
            os.getresgid(),
            os.getgroups(),
            os.getsid(0) == os.getpid(),
            os.umask(0),
        )

    got = pyns.run(
        probe, user="nobody", group="nogroup", extra_groups=[], start_new_session=True, umask=0o077
    )
    assert got == ((NOBODY,) * 3, (NOBODY,) * 3, [], True, 0o077)
    assert pyns.run(os.getpgid, 0, process_group=0) != os.getpgid(0)
    with pytest.raises(pyns.ChildError, match=r"set the uid to 3 \(setresuid\)"):
        pyns.run(os.getpid, map_root=True, user=3)


def test_aio_spawn_takes_them():
    async def main():
        p = await pyns.aio.spawn(SESSION[:2] + ["id -u; " + SESSION[2]], user="nobody", start_new_session=True,
                                 stdout=PIPE)  # fmt: skip
        out, _ = await p.communicate()
        return out.decode().split("\n", 1)

    uid, rest = asyncio.run(main())
    assert uid == str(NOBODY)
    assert session(rest) == ("self", "self", "self")


def test_signature_lists_them():
    import inspect

    for fn in (pyns.spawn, pyns.run):
        params = inspect.signature(fn).parameters
        for name in (
            "user",
            "group",
            "extra_groups",
            "umask",
            "start_new_session",
            "process_group",
        ):
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, (fn, name)


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"user": 1.5}, TypeError, "user must be a user name"),
        ({"user": "no-such-user-pyns"}, ValueError, "user: unknown user 'no-such-user-pyns'"),
        ({"user": -1}, ValueError, "user must be a user id from 0"),
        ({"user": 2**32 - 1}, ValueError, "user must be a user id from 0"),
        ({"group": "no-such-group-pyns"}, ValueError, "group: unknown group"),
        ({"group": b"root"}, TypeError, "group must be a group name"),
        ({"extra_groups": "wheel"}, TypeError, "extra_groups must be a list"),
        ({"extra_groups": 5}, TypeError, "extra_groups must be a list"),
        ({"extra_groups": [None]}, TypeError, "extra_groups must be a group name"),
        ({"extra_groups": [0, -2]}, ValueError, "extra_groups must be a group id"),
        ({"extra_groups": ["no-such-group-pyns"]}, ValueError, "extra_groups: unknown group"),
        ({"extra_groups": range(65537)}, ValueError, "at most 65536"),
        ({"extra_groups": [0], "map_root": True}, ValueError, "setgroups='allow'"),
        ({"umask": "022"}, TypeError, "umask must be an int"),
        ({"umask": 0o1000}, ValueError, "umask must be from 0 to 0o777"),
        ({"umask": -2}, ValueError, "umask must be from 0"),
        ({"start_new_session": 1}, TypeError, "start_new_session must be a bool"),
        ({"process_group": True}, TypeError, "process_group must be a process group id"),
        ({"process_group": -1}, ValueError, "process_group must be a process group id >= 0"),
        ({"process_group": 0, "start_new_session": True}, ValueError, "exclude each other"),
    ],
)
def test_bad_values_are_named_before_anything_starts(kw, error, match):
    for start in (pyns.spawn, lambda args, **kw: pyns.run(os.getpid, **kw)):
        with pytest.raises(error, match=match):
            start(["true"], **kw)


def test_rootless(nobody):
    r = nobody(
        """
        import subprocess, pyns
        from subprocess import PIPE

        args = ["sh", "-c", "id -u; id -g; umask; exec ps -o pid=,pgid=,sid= -p $$"]

        def out(**kw):
            p = pyns.spawn(args, stdout=PIPE, text=True, **kw)
            o, _ = p.communicate()
            return o.split()

        def popen(**kw):
            return subprocess.run(args, stdout=PIPE, text=True, **kw).stdout.split()

        kw = dict(umask=0o077, start_new_session=True)
        ours, theirs = out(**kw), popen(**kw)
        print(ours[:3] == theirs[:3] == ["65534", "65534", "0077"],
              len(set(ours[3:])) == len(set(theirs[3:])) == 1)
        ours, theirs = out(process_group=0), popen(process_group=0)
        print(ours[3] == ours[4] != ours[5], theirs[3] == theirs[4] != theirs[5])
        print(out(map_root=True, user=0, group=0)[:2])
        for start in (pyns.spawn, subprocess.Popen):
            try:
                start(["true"], user=0)
            except PermissionError as e:
                print(type(e).__name__, getattr(e, "step", None))
        try:
            pyns.spawn(["true"], map_root=True, user=1)
        except pyns.ChildError as e:
            print(e.step, e.errno)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "True True",
        "True True",
        "['0', '0']",
        "PermissionError set the uid to 0 (setresuid)",
        "PermissionError None",
        "set the uid to 1 (setresuid) 22",
    ]


def test_host_spawn_and_run_forward_them():
    from pyns.testing import Topology

    with Topology() as t:
        a = t.host("a")
        p = a.spawn(
            ["sh", "-c", "id -u; umask; hostname"],
            user="nobody",
            umask=0o077,
            stdout=PIPE,
            text=True,
        )
        assert p.communicate()[0] == f"{NOBODY}\n0077\na\n"
        assert a.run(os.getresgid, group="nogroup") == (NOBODY,) * 3


def test_args_repr_and_run_of_a_list_as_popen(tmp_path):
    args = ["sh", "-c", "exit 3", tmp_path]
    p, q = pyns.spawn(args), subprocess.Popen(args)
    assert p.args == q.args == args
    assert f"returncode=None args={args!r}" in repr(p) and f"returncode: None args: {args!r}"[
        :40
    ] in repr(q)
    p.wait(), q.wait()
    assert repr(p) == f"<pyns.Process pid={p.pid} returncode=3 args={args!r}>"
    with pytest.raises(
        TypeError, match=r"run\(\) needs a callable, not list: to start a program, use pyns\.spawn"
    ):
        pyns.run(["true"])


def umask_and_uid():
    return os.umask(0), os.getuid()


@pytest.mark.parametrize(
    "route",
    [
        {},
        {"pid": True},
        {"pid": True, "init": False},
        {"pid": True, "mnt": True},
        {"time": True},
        {"map_root": True},
        {"map_root": True, "pid": True},
        {"join": "net"},
        {"join": "net", "pid": True},
    ],
    ids=repr,
)
def test_every_route_sets_them_in_the_program_and_the_function(route, make_netns):
    uid = 0 if route.get("map_root") else NOBODY
    kw = {**route, "umask": 0o077, "user": uid}
    if "join" in route:
        kw["join"] = {"net": make_netns()}
    assert output(["sh", "-c", "umask; id -u"], **kw) == f"0077\n{uid}\n"
    assert pyns.run(umask_and_uid, **kw) == (0o077, uid)
