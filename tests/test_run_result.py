"""pyns.run's wait for the result (one native call): big results in many reads, a child that
dies without a result while a process it started holds the result pipe open, a result
followed by more bytes from such a process."""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import time

import pytest

import pyns


def _big(n: int) -> bytes:
    return bytes(range(256)) * (n // 256)


def test_big_results_come_back_whole():
    for n in (1 << 16, (1 << 20) + 256, 3 << 20):
        assert pyns.run(_big, n, uts=True, pid=True) == _big(n)


def _die_leaving_a_writer(release: str) -> None:
    """Starts a process that keeps this process's fds (the result pipe's write end among
    them) until `release` exists, then dies without a result."""
    if os.fork() == 0:
        while not os.path.exists(release):
            time.sleep(0.05)
        os._exit(0)
    os.kill(os.getpid(), signal.SIGKILL)


def test_death_without_a_result_is_seen_while_the_pipe_stays_open(tmp_path):
    release = str(tmp_path / "release")
    try:  # if run waited for the pipe's EOF it would hang: pytest-timeout's failure
        with pytest.raises(pyns.ChildError, match="without a result"):
            pyns.run(_die_leaving_a_writer, release, uts=True)
    finally:
        open(release, "w").close()


def _answer_then_a_writer_writes_more() -> int:
    """Returns 42; a process it started writes junk into the result pipe (every pipe it may
    write but stdout's and stderr's) once this process has exited."""
    parent = os.getpid()
    if os.fork() == 0:
        while os.getppid() == parent:  # until the function's process has exited
            time.sleep(0.01)
        ours = {os.fstat(1).st_ino, os.fstat(2).st_ino}
        for fd in range(3, 64):
            try:
                st = os.fstat(fd)
                if stat.S_ISFIFO(st.st_mode) and st.st_ino not in ours and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                    os.write(fd, b"junk" * 100)
            except OSError:
                pass
        os._exit(0)
    return 42


def test_the_result_ends_at_its_frame():
    for _ in range(5):
        assert pyns.run(_answer_then_a_writer_writes_more) == 42
