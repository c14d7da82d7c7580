"""Errors by kind: pyns' classes, `.step`/`.hint` on every OSError, non-namespace files that
fail at once (never block), and out-of-range ints that name the argument."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap

import pytest

import pyns
from pyns import net

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def test_a_regular_file_is_not_a_namespace_and_a_value_error():
    with pytest.raises(pyns.NotANamespaceError, match="not a namespace file") as e:
        pyns.Namespace.open("/etc/hostname")
    assert isinstance(e.value, ValueError)
    assert isinstance(e.value, pyns.NamespaceError)
    with pytest.raises(ValueError, match="net namespace, not a uts namespace"):
        pyns.Namespace.open("/proc/self/ns/net", "uts")


def test_non_namespace_files_fail_at_once_everywhere(tmp_path):
    """A FIFO, a directory and a socket as namespace paths: NotANamespaceError from every
    entry point, without blocking (run in a subprocess, so that a hang is a timeout)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    code = textwrap.dedent(
        f"""
        import pyns
        from pyns import net
        for path in [{str(fifo)!r}, {str(tmp_path)!r}, {str(tmp_path / "sock")!r}]:
            for call in (
                lambda: pyns.Namespace.open(path),
                lambda: pyns.Namespace.open(path, "net"),
                lambda: pyns.enter(path),
                lambda: net.links(netns=path),
                lambda: pyns.spawn(["true"], join={{"net": path}}),
            ):
                try:
                    call()
                except pyns.NotANamespaceError as e:
                    assert isinstance(e, ValueError)
                    print("ok")
        """
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
        )
    finally:
        sock.close()
    assert out.stdout.split() == ["ok"] * 15, out.stderr


def test_os_errors_carry_step_and_hint():
    with pytest.raises(FileNotFoundError) as e:
        pyns.Namespace.open("/nonexistent/ns")
    assert e.value.errno == errno.ENOENT
    assert e.value.step == "open namespace file"
    assert e.value.hint is None
    assert "pyns was doing: open namespace file" in e.value.__notes__[0]


def test_permission_errors_carry_the_missing_privilege(nobody):
    out = nobody(
        """
        import pyns
        for what, call in [
            ("isolate", lambda: pyns.isolate(uts=True).__enter__()),
            ("of", lambda: pyns.Namespace.of(1, "net")),
            ("enter", lambda: pyns.enter(1)),
        ]:
            try:
                call()
            except PermissionError as e:
                print(what, e.step, "|", e.hint)
        """
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 3, out.stderr
    assert lines[0].startswith("isolate unshare(CLONE_NEWUTS) |") and "CAP_SYS_ADMIN" in lines[0]
    for line in lines[1:]:
        assert "open namespace file |" in line and "CAP_SYS_PTRACE" in line, line
        assert "same user" in line


def test_lookup_errors_carry_a_step_too():
    with pytest.raises(LookupError) as e:
        net.link("pyns-nope0")
    assert e.value.step


def test_cli_reads_step_and_hint_not_the_note():
    from pyns.cli import _one_line

    e = PermissionError(errno.EACCES, "Permission denied", "/proc/1/ns/net")
    e.step = "open namespace file"
    e.hint = "be the same user"
    e.add_note("pyns was doing: something else")  # the note is for people, not parsed
    assert _one_line("ls", {}, e) == (
        "open namespace file (/proc/1/ns/net): Permission denied; be the same user"
    )


BIG = 2**70


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: pyns.Namespace.of(BIG, "net"), "pid"),
        (lambda: pyns.Namespace.of(-1, "net"), "pid"),
        (lambda: pyns.setns(2**40), "ns_or_fd"),
        (lambda: pyns.setns(-3), "ns_or_fd"),
        (lambda: pyns.setns(0, BIG), "kind"),
        (lambda: pyns.unshare(BIG), "flags"),
        (lambda: net.links(netns=BIG), "netns"),
        (lambda: pyns.enter(BIG, net=True), "target"),
        (lambda: pyns.spawn(["true"], join={"net": BIG}), "join['net']"),
        (lambda: pyns.mount.mounts(BIG), "pid"),
        (lambda: pyns.capabilities(BIG), "pid"),
    ],
)
def test_out_of_range_ints_are_value_errors_naming_the_argument(call, name):
    with pytest.raises(ValueError) as e:
        call()
    assert not isinstance(e.value, OverflowError)
    assert str(e.value).startswith(name), str(e.value)


def test_wrong_types_are_type_errors_naming_the_argument():
    with pytest.raises(TypeError, match="^pid must be an int"):
        pyns.Namespace.of("1", "net")
    with pytest.raises(TypeError, match="setns.. takes a pyns.Namespace or a file descriptor"):
        pyns.setns(1.5)
    with pytest.raises(TypeError, match="^flags must be an int"):
        pyns.unshare(True)
