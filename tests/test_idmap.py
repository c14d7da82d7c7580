"""pyns.IdMap: validation, and maps written directly or through newuidmap/newgidmap."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import textwrap

import pytest

import pyns


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_parses_both_forms_and_prints_kernel_text():
    m = pyns.IdMap([(0, 1000, 1), (1, 100000, 65536)])
    assert m == pyns.IdMap("0 1000 1\n1 100000 65536\n")
    assert str(m) == "0 1000 1\n1 100000 65536\n"
    assert repr(m) == "IdMap([(0, 1000, 1), (1, 100000, 65536)])"
    assert m.ranges == [(0, 1000, 1), (1, 100000, 65536)]
    assert len(m) == 2
    assert pyns.IdMap(m) == m
    assert hash(m) == hash(pyns.IdMap(str(m)))


@pytest.mark.parametrize(
    "bad, why",
    [
        ([(0, -1, 1)], "negative"),
        ([(-5, 0, 1)], "negative"),
        ([(0, 0, 0)], "at least 1"),
        ([(0, 0, 10), (5, 100, 1)], "inside ids overlap"),
        ([(0, 0, 10), (50, 5, 1)], "outside ids overlap"),
        ([(i, i, 1) for i in range(341)], "at most 340"),
        ([], "at least one"),
        ("0 1000", "three numbers"),
        ("a b c", "three numbers"),
        ([(4294967294, 0, 2)], "runs past"),
    ],
)
def test_invalid_maps_are_value_errors(bad, why):
    with pytest.raises(ValueError, match=why):
        pyns.IdMap(bad)
    with pytest.raises(ValueError, match=why):
        pyns.spawn(["true"], uid_map=bad)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError):
        pyns.IdMap(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pyns.IdMap([(0, 1)])  # type: ignore[list-item]


def test_340_lines_are_fine():
    assert len(pyns.IdMap([(i, i, 1) for i in range(340)])) == 340


def test_maps_are_written_as_given():
    uid_map = [(0, 100000, 1000), (5000, 0, 1)]
    with pyns.spawn(
        ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g"],
        uid_map=uid_map, gid_map="0 200000 10", stdout=subprocess.PIPE,
    ) as p:  # fmt: skip
        text = p.communicate()[0].decode().split()
    # Root outside is 5000 inside; uid 0 inside is mapped but not ours: we stay 5000.
    assert text == "0 100000 1000 5000 0 1 0 200000 10 5000 0".split()[:9] + ["5000", "0"]


def test_unmapped_caller_becomes_root_inside():
    # Root outside is not mapped; 0 inside is: the child switches to it (kuid 100000).
    with pyns.spawn(["sleep", "30"], uid_map=[(0, 100000, 10)], gid_map=[(0, 100000, 10)]) as p:
        status = read(f"/proc/{p.pid}/status")
        assert "\nUid:\t100000\t100000\t100000\t100000\n" in status
        assert "\nGid:\t100000\t100000\t100000\t100000\n" in status
        p.kill()


def test_second_write_is_refused_clearly():
    with pyns.spawn(["sleep", "30"], user=True, map_root=True) as p:
        with pytest.raises(PermissionError) as e:
            pyns.IdMap("0 0 1").write(p.pid, "uid_map")
        assert "already written" in "".join(e.value.__notes__)
        with pytest.raises(ValueError):
            pyns.IdMap("0 0 1").write(p.pid, "uid")
        p.kill()


def test_map_written_later_by_hand():
    with pyns.spawn(["sleep", "30"], user=True) as p:
        pyns.IdMap("0 0 1").write(p.pid, "uid_map")
        assert read(f"/proc/{p.pid}/uid_map").split() == ["0", "0", "1"]
        p.kill()


@pytest.fixture
def subid_user():
    """A user with subordinate id ranges in /etc/subuid and /etc/subgid, removed afterwards."""
    name = f"pyns{os.getpid()}"
    saved = {}
    for f in ("/etc/subuid", "/etc/subgid"):
        saved[f] = read(f) if os.path.exists(f) else None
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True
    )
    try:
        for f in saved:
            with open(f, "a") as fh:
                fh.write(f"{name}:3000000:65536\n")
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False)
        for f, text in saved.items():
            if text is None:
                os.remove(f)
            else:
                with open(f, "w") as fh:
                    fh.write(text)


def test_multi_range_map_through_newuidmap(subid_user):
    uid, gid = subid_user.pw_uid, subid_user.pw_gid
    code = textwrap.dedent(
        f"""
        import subprocess, pyns
        p = pyns.spawn(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"],
                       uid_map=[(0, {uid}, 1), (1, 3000000, 65536)],
                       gid_map=[(0, {gid}, 1), (1, 3000000, 65536)],
                       stdout=subprocess.PIPE)
        print(p.communicate()[0].decode())
        try:
            pyns.spawn(["true"], uid_map=[(0, {uid}, 1), (1, 5000000, 10)])
        except PermissionError as e:
            print("refused:", "pyns was doing: newuidmap" in e.__notes__[0])
        """
    )
    r = subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    nums = r.stdout.split()
    assert nums[:12] == f"0 {uid} 1 1 3000000 65536 0 {gid} 1 1 3000000 65536".split()
    assert nums[12] == "0"
    assert "refused: True" in r.stdout
