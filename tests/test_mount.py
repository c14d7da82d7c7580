"""pyns.mount: propagation across mount namespaces, bind, tmpfs, proc, umount, mountinfo.

Every mount is made inside a mount namespace the test made (`pyns.isolate(mnt=True)` on a
thread, or an `unshare(1)` child); the session's leak check verifies the host's table.
"""

from __future__ import annotations

import errno
import os
import queue
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyns
from pyns import mount


class NsThread:
    """A thread inside its own new mount namespace that runs the calls sent to it.

    Made on the main thread, its namespace is a copy of the host's with `/` made private;
    made by another NsThread (``parent.call(NsThread, None)``), a copy of that one's, with
    propagation left as copied (propagation=None).
    """

    def __init__(self, propagation: str | None = "private") -> None:
        self._jobs: queue.Queue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None]
        self._jobs = queue.Queue()
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, args=(propagation, ready))
        self._thread.start()
        ready.result(timeout=30)

    def _main(self, propagation: str | None, ready: Future[None]) -> None:
        try:
            iso = pyns.isolate(mnt=True, propagation=propagation)
            iso.__enter__()
        except BaseException as e:  # noqa: BLE001 - handed to the starting thread
            ready.set_exception(e)
            return
        try:
            ready.set_result(None)
            while (job := self._jobs.get()) is not None:
                fut, fn, args = job
                try:
                    fut.set_result(fn(*args))
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    fut.set_exception(e)
        finally:
            iso.__exit__(None, None, None)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Runs ``fn(*args)`` on the thread, inside its namespace; returns or raises."""
        fut: Future[Any] = Future()
        self._jobs.put((fut, fn, args))
        return fut.result(timeout=30)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)
        assert not self._thread.is_alive()


def mount_at(path: Path) -> mount.MountInfo | None:
    """The mount whose mount point is ``path`` in the calling thread's namespace."""
    found = [m for m in mount.mounts() if m.mount_point == str(path)]
    return found[-1] if found else None


def mkdir_and_tmpfs(path: Path) -> None:
    path.mkdir()
    mount.tmpfs(path, size="1m")


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="pyns-mount-"))
    yield d
    shutil.rmtree(d)


@pytest.fixture
def pair(workdir):
    """Two mount namespaces, the child a copy of the parent made after `base` was mounted.

    Yields ``make(parent_type, child_type=None)`` -> (parent, child, base): the parent
    mounts a tmpfs at ``base`` and gives it ``parent_type`` (non-recursive); then the
    child namespace is copied from the parent's and may set ``child_type`` on its copy.
    """
    made: list[NsThread] = []
    base = workdir / "base"
    base.mkdir()

    def make(parent_type: str, child_type: str | None = None) -> tuple[NsThread, NsThread, Path]:
        parent = NsThread()
        made.append(parent)
        parent.call(mount.tmpfs, base)
        parent.call(getattr(mount, f"make_{parent_type}"), base, False)
        child = parent.call(NsThread, None)
        made.append(child)
        if child_type:
            child.call(getattr(mount, f"make_{child_type}"), base, False)
        return parent, child, base

    yield make
    for t in reversed(made):
        t.close()


def test_shared_propagates_both_ways(pair):
    parent, child, base = pair("shared")
    assert parent.call(mount.propagation, base) == "shared"
    assert child.call(mount.propagation, base) == "shared"
    group = parent.call(mount_at, base).peer_group
    assert group is not None and child.call(mount_at, base).peer_group == group

    parent.call(mkdir_and_tmpfs, base / "from_parent")
    assert child.call(mount_at, base / "from_parent") is not None
    child.call(mkdir_and_tmpfs, base / "from_child")
    assert parent.call(mount_at, base / "from_child") is not None
    parent.call(mount.umount, base / "from_child")
    assert child.call(mount_at, base / "from_child") is None


def test_slave_receives_but_does_not_send(pair):
    parent, child, base = pair("shared", "slave")
    assert child.call(mount.propagation, base) == "slave"
    info = child.call(mount_at, base)
    assert info.master == parent.call(mount_at, base).peer_group
    assert info.peer_group is None

    parent.call(mkdir_and_tmpfs, base / "from_parent")
    assert child.call(mount_at, base / "from_parent") is not None
    child.call(mkdir_and_tmpfs, base / "from_child")
    assert parent.call(mount_at, base / "from_child") is None


def test_private_propagates_neither_way(pair):
    parent, child, base = pair("private")
    assert parent.call(mount.propagation, base) == "private"
    assert child.call(mount.propagation, base) == "private"
    parent.call(mkdir_and_tmpfs, base / "from_parent")
    child.call(mkdir_and_tmpfs, base / "from_child")
    assert child.call(mount_at, base / "from_parent") is None
    assert parent.call(mount_at, base / "from_child") is None


def test_unbindable_cannot_be_bind_mounted(pair):
    parent, _, base = pair("unbindable")
    work = base.parent
    (work / "elsewhere").mkdir()
    (work / "tree").mkdir()
    assert parent.call(mount.propagation, base) == "unbindable"
    assert parent.call(mount_at, base).unbindable
    with pytest.raises(OSError) as e:
        parent.call(mount.bind, base, work / "elsewhere")
    assert e.value.errno == errno.EINVAL
    assert parent.call(mount_at, work / "elsewhere") is None
    # A recursive bind of a tree that contains it leaves the unbindable mount out.
    parent.call(mount.bind, work, work / "tree")
    assert parent.call(mount_at, work / "tree") is not None
    assert parent.call(mount_at, work / "tree" / "base") is None


def test_slave_and_shared_reports_slave_with_both_groups(pair):
    parent, child, base = pair("shared", "slave")
    child.call(mount.make_shared, base, False)
    info = child.call(mount_at, base)
    assert info.propagation == "slave"
    assert info.master == parent.call(mount_at, base).peer_group
    assert info.peer_group is not None and info.peer_group != info.master
    assert child.call(mount.propagation, base) == "slave"


@pytest.mark.kernel
def test_readonly_bind_rejects_writes_recursively(workdir):
    src, dst = workdir / "src", workdir / "dst"
    (src / "sub").mkdir(parents=True)
    dst.mkdir()
    (src / "f").write_text("host")
    with pyns.isolate(mnt=True):
        mount.tmpfs(src / "sub")
        mount.bind(src, dst, readonly=True)
        for attempt in (
            lambda: (dst / "f").write_text("x"),
            lambda: (dst / "new").mkdir(),
            lambda: (dst / "sub" / "new").write_text("x"),
        ):
            with pytest.raises(OSError) as e:
                attempt()
            assert e.value.errno == errno.EROFS
        (src / "f").write_text("still writable at the source")
        assert (dst / "f").read_text() == "still writable at the source"
        assert "ro" in mount_at(dst).options
        assert "ro" in mount_at(dst / "sub").options
    assert mount_at(dst) is None


def test_non_recursive_bind_leaves_submounts_out(workdir):
    src, dst = workdir / "src", workdir / "dst"
    (src / "sub").mkdir(parents=True)
    dst.mkdir()
    with pyns.isolate(mnt=True):
        mount.tmpfs(src / "sub")
        (src / "sub" / "on-tmpfs").touch()
        mount.bind(src, dst, recursive=False)
        assert mount_at(dst) is not None
        assert mount_at(dst / "sub") is None
        assert not (dst / "sub" / "on-tmpfs").exists()
        (dst / "writable").touch()


def test_tmpfs_honours_size_and_mode(workdir):
    with pyns.isolate(mnt=True):
        mount.tmpfs(workdir, size=1 << 20, mode=0o700)
        st = os.statvfs(workdir)
        assert st.f_blocks * st.f_frsize == 1 << 20
        assert stat.S_IMODE(os.stat(workdir).st_mode) == 0o700
        info = mount_at(workdir)
        assert info.fstype == "tmpfs" and info.source == "tmpfs"
        assert "size=1024k" in info.super_options and "mode=700" in info.super_options
        with pytest.raises(OSError) as e, open(workdir / "big", "wb") as f:
            f.write(b"\0" * (2 << 20))
            f.flush()
        assert e.value.errno == errno.ENOSPC
        mount.umount(workdir)
        mount.tmpfs(workdir, "2m")
        st = os.statvfs(workdir)
        assert st.f_blocks * st.f_frsize == 2 << 20


def test_umount_busy_lazy_and_not_a_mount_point(workdir):
    with pyns.isolate(mnt=True):
        mount.tmpfs(workdir)
        with open(workdir / "held", "w") as held:
            with pytest.raises(OSError) as e:
                mount.umount(workdir)
            assert e.value.errno == errno.EBUSY
            mount.umount(workdir, lazy=True)
            assert mount_at(workdir) is None
            held.write("the detached tmpfs lives on while the file is open")
        with pytest.raises(OSError) as e:
            mount.umount(workdir)
        assert e.value.errno == errno.EINVAL
        assert "not a mount point" in "".join(e.value.__notes__)


def test_propagation_change_needs_a_mount_point(workdir):
    with pyns.isolate(mnt=True):
        with pytest.raises(OSError) as e:
            mount.make_private(workdir, recursive=False)
        assert e.value.errno == errno.EINVAL
        assert e.value.filename == str(workdir)
        note = "".join(e.value.__notes__)
        assert "not a mount point" in note and "bind(path, path)" in note
        mount.bind(workdir, workdir)
        mount.make_shared(workdir)
        assert mount.propagation(workdir) == "shared"
        mount.make_private(workdir)
        assert mount.propagation(workdir) == "private"


def test_missing_paths_are_file_not_found_with_the_filename(workdir):
    missing = workdir / "missing"
    with pyns.isolate(mnt=True):
        for call in [
            lambda: mount.bind(missing, workdir),
            lambda: mount.bind(workdir, missing),
            lambda: mount.tmpfs(missing),
            lambda: mount.proc(missing),
            lambda: mount.umount(missing),
            lambda: mount.make_slave(missing),
            lambda: mount.propagation(missing),
        ]:
            with pytest.raises(FileNotFoundError) as e:
                call()
            assert e.value.filename == str(missing)
            assert e.value.errno == errno.ENOENT


def test_bad_arguments_are_rejected_before_any_syscall():
    nowhere = "/nonexistent-pyns-dir"
    for kwargs, exc, match in [
        ({"size": 0}, ValueError, "positive"),
        ({"size": -5}, ValueError, "positive"),
        ({"size": "1MM"}, ValueError, "tmpfs size"),
        ({"size": 1.5}, TypeError, "size must be"),
        ({"size": True}, TypeError, "size must be"),
        ({"mode": 0o10000}, ValueError, "0o7777"),
        ({"mode": "755"}, TypeError, "mode must be"),
    ]:
        with pytest.raises(exc, match=match):
            mount.tmpfs(nowhere, **kwargs)
    with pytest.raises(TypeError, match="path must be"):
        mount.make_private(1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        mount.bind("/a\0b", nowhere)
    with pytest.raises(ValueError, match="empty"):
        mount.umount("")
    with pytest.raises(TypeError, match="readonly must be a bool"):
        mount.bind(nowhere, nowhere, readonly=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive process id"):
        mount.mounts(0)
    with pytest.raises(ValueError, match="propagation must be one of"):
        pyns._native.mount_set_propagation(nowhere, "rshared", True)


def test_mounts_matches_the_kernel_table_and_decodes_escapes(workdir):
    with open("/proc/thread-self/mountinfo", "rb") as f:
        lines = [line for line in f.read().splitlines() if line]
    table = mount.mounts()
    assert [m.mount_id for m in table] == [int(line.split()[0]) for line in lines]
    assert [m.mount_id for m in mount.mounts(os.getpid())] == [m.mount_id for m in table]
    root = next(m for m in table if m.mount_point == "/")
    assert repr(root).startswith(f"MountInfo(mount_id={root.mount_id}, mount_point='/', ")

    weird = workdir / "a b\tc\\d\ne"
    weird.mkdir()
    with pyns.isolate(mnt=True):
        mount.tmpfs(weird)
        info = mount_at(weird)
        assert info is not None, [m.mount_point for m in mount.mounts()]
        assert (info.root, info.fstype, info.propagation) == ("/", "tmpfs", "private")
        assert info.parent_id in {m.mount_id for m in mount.mounts()}
        assert mount.propagation(weird / ".") == "private"
    assert mount_at(weird) is None


def test_mounts_of_a_missing_process():
    with subprocess.Popen(["true"]) as p:
        p.wait()
    with pytest.raises(ProcessLookupError):
        mount.mounts(p.pid)


def _pids_script(prelude: str) -> str:
    return (
        "import os, pyns.mount as m\n"
        f"{prelude}\n"
        "m.proc()\n"
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), os.getpid())\n"
        "print(m.propagation('/proc'), next(x.fstype for x in m.mounts() if x.mount_point == '/proc'))\n"
    )


def test_proc_in_a_new_pid_namespace_shows_only_its_processes():
    r = subprocess.run(
        [
            "unshare",
            "--pid",
            "--fork",
            "--mount",
            "--propagation",
            "private",
            sys.executable,
            "-c",
            _pids_script(""),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["[1] 1", "private proc"]


ROOTLESS = """
import errno, os, pyns.mount as m
m.tmpfs("/tmp", size="1m")  # our own /tmp, writable by our mapped root
os.makedirs("/tmp/src/sub"); os.mkdir("/tmp/dst")
open("/tmp/src/f", "w").write("x")
m.tmpfs("/tmp/src/sub", size=4096 * 4)
m.bind("/tmp/src", "/tmp/dst", readonly=True)
for p in ("/tmp/dst/f", "/tmp/dst/sub/g"):
    try:
        open(p, "w")
        print("writable", p)
    except OSError as e:
        print(errno.errorcode[e.errno])
st = os.statvfs("/tmp/src/sub")
print(st.f_blocks * st.f_frsize)
"""


@pytest.mark.kernel
def test_rootless_bind_tmpfs_and_proc_as_nobody(nobody):
    inner = _pids_script(ROOTLESS)
    r = nobody(
        "import subprocess, sys\n"
        "r = subprocess.run(['unshare', '--user', '--map-root-user', '--mount', '--pid',"
        f" '--fork', sys.executable, '-c', {inner!r}], capture_output=True, text=True)\n"
        "print(r.stdout, end=''); print(r.stderr, end='', file=sys.stderr)\n"
        "sys.exit(r.returncode)\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["EROFS", "EROFS", "16384", "[1] 1", "private proc"]


def test_unprivileged_mount_is_a_permission_error_with_a_hint(nobody):
    r = nobody(
        """
        import pyns.mount
        try:
            pyns.mount.tmpfs("/tmp")
        except PermissionError as e:
            print(e.errno, e.filename)
            print(*e.__notes__)
        """
    )
    assert r.returncode == 0, r.stderr
    first, note = r.stdout.split("\n", 1)
    assert first == "1 /tmp"
    assert "mount tmpfs" in note and "CAP_SYS_ADMIN" in note and "user=True, mnt=True" in note


# -- the mountinfo parser, by property ------------------------------------------------------


def _escape(raw: bytes) -> bytes:
    return b"".join(b"\\%03o" % c if c in b" \t\n\\" else bytes([c]) for c in raw)


paths = st.binary(max_size=40).filter(lambda b: b"\0" not in b).map(lambda b: b"/" + b)
tokens = st.sampled_from(
    [
        b"1",
        b"22",
        b"0:1",
        b"8:",
        b"-",
        b"/",
        b"/a\\040b",
        b"\\",
        b"\\7",
        b"\\777",
        b"rw",
        b"shared:1",
        b"master:",
        b"propagate_from:x",
        b"unbindable",
        b"",
        b":",
        b"\xff",
    ]
)


@settings(database=None, max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.lists(tokens, max_size=16).map(b" ".join)))
def test_parser_never_panics(text):
    try:
        result = mount.parse_mountinfo(text)
    except ValueError:
        return
    assert all(isinstance(m.mount_point, str) for m in result)


@settings(database=None, max_examples=300, deadline=None)
@given(
    paths,
    paths,
    st.binary(max_size=20).filter(lambda b: b"\0" not in b),
    st.lists(
        st.sampled_from(["shared:3", "master:4", "propagate_from:5", "unbindable"]), unique=True
    ),
)
def test_parser_round_trips_escaped_paths(mount_point, root, source, optional):
    line = b" ".join(
        [
            b"7 6 0:42",
            _escape(root),
            _escape(mount_point),
            b"rw,nosuid",
            *(o.encode() for o in optional),
            b"-",
            b"tmpfs",
            _escape(source),
            b"rw,size=4k",
        ]
    )
    for text in (line, line + b"\n", os.fsdecode(line)):
        [info] = mount.parse_mountinfo(text)
        assert os.fsencode(info.mount_point) == mount_point
        assert os.fsencode(info.root) == root
        assert os.fsencode(info.source) == source
        assert (info.mount_id, info.parent_id, info.major, info.minor) == (7, 6, 0, 42)
        assert info.options == ("rw", "nosuid") and info.super_options == ("rw", "size=4k")
        assert (info.peer_group, info.master, info.propagate_from, info.unbindable) == (
            3 if "shared:3" in optional else None,
            4 if "master:4" in optional else None,
            5 if "propagate_from:5" in optional else None,
            "unbindable" in optional,
        )
