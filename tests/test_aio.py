"""pyns.aio: children awaited from asyncio through their pidfds (add_reader), no threads.

Every test checks that no fd is left open and no child is left unreaped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time

import pytest

import pyns
import pyns.aio


def open_fds() -> set[int]:
    return set(map(int, os.listdir("/proc/self/fd")))


@pytest.fixture(autouse=True)
def no_leaks():
    before, threads = open_fds(), threading.active_count()
    yield
    assert open_fds() <= before  # the listing's own fd is gone again too
    assert threading.active_count() == threads  # no helper thread was started
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left, not even a zombie


def gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")


def test_communicate_through_asyncio_streams():
    async def main():
        p = await pyns.aio.spawn(
            ["sh", "-c", "hostname; cat; echo err >&2; exit 3"], uts=True, hostname="box",
            user=True, map_root=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert isinstance(p.stdout, asyncio.StreamReader)
        assert isinstance(p.stdin, asyncio.StreamWriter)
        out, err = await p.communicate(b"hello\n")
        return p.returncode, out, err

    assert asyncio.run(main()) == (3, b"box\nhello\n", b"err\n")


def test_streams_read_line_by_line_then_wait():
    async def main():
        p = await pyns.aio.spawn(["sh", "-c", "echo one; echo two"], stdout=subprocess.PIPE,
                                 user=True, map_root=True)
        lines = [await p.stdout.readline(), await p.stdout.readline(), await p.stdout.read()]
        return lines, await p.wait()

    assert asyncio.run(main()) == ([b"one\n", b"two\n", b""], 0)


def test_a_hundred_children_awaited_at_once():
    async def child(i: int) -> int:
        p = await pyns.aio.spawn(["sh", "-c", f"exit {i}"], user=True, map_root=True,
                                 uts=True, hostname=f"c{i}")
        return await p.wait()

    async def main():
        return await asyncio.gather(*(child(i) for i in range(100)))

    assert asyncio.run(main()) == list(range(100))


def test_many_tasks_wait_for_one_child():
    async def main():
        p = await pyns.aio.spawn(["sh", "-c", "read x; exit 7"], stdin=subprocess.PIPE,
                                 user=True, map_root=True)
        waiters = [asyncio.ensure_future(p.wait()) for _ in range(5)]
        await asyncio.sleep(0)  # let them all start waiting
        p.stdin.write(b"go\n")
        await p.stdin.drain()
        p.stdin.close()
        return await asyncio.gather(*waiters)

    assert asyncio.run(main()) == [7] * 5


def test_cancelling_a_waiting_task_kills_and_reaps_the_child():
    async def main():
        p = await pyns.aio.spawn(["sleep", "60"], pid=True, user=True, map_root=True)
        task = asyncio.ensure_future(p.wait())
        await asyncio.sleep(0)  # the task is waiting on the pidfd now
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return p

    p = asyncio.run(main())
    assert p.returncode == -signal.SIGKILL and gone(p.pid)


def test_cancelling_communicate_kills_and_reaps_the_child():
    async def main():
        p = await pyns.aio.spawn(["sleep", "60"], stdout=subprocess.PIPE, user=True,
                                 map_root=True)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(p.communicate(), 0.05)
        return p

    p = asyncio.run(main())
    assert p.returncode == -signal.SIGKILL and gone(p.pid)


def test_signals():
    async def main():
        p = await pyns.aio.spawn(["sleep", "60"], user=True, map_root=True)
        p.terminate()
        first = await p.wait()
        p.kill()  # reaped already: nothing happens
        return first

    assert asyncio.run(main()) == -signal.SIGTERM


def hostname_and_args(*args, **kwargs):
    import socket

    return socket.gethostname(), args, kwargs


def fails():
    raise KeyError("inside")


def test_run_returns_and_raises_like_pyns_run():
    async def main():
        ok = await pyns.aio.run(hostname_and_args, 1, 2, x=3, uts=True, hostname="box",
                                user=True, map_root=True)
        with pytest.raises(KeyError, match="inside") as e:
            await pyns.aio.run(fails, user=True, map_root=True)
        return ok, e.value

    ok, err = asyncio.run(main())
    assert ok == ("box", (1, 2), {"x": 3})
    assert "Traceback in the child" in err.__notes__[0]


def test_run_many_at_once():
    async def main():
        return await asyncio.gather(
            *(pyns.aio.run(hostname_and_args, i, uts=True, hostname=f"h{i}", user=True,
                           map_root=True) for i in range(20))
        )

    assert asyncio.run(main()) == [(f"h{i}", (i,), {}) for i in range(20)]


def _hold_the_result_pipe_then_return(release: str, size: int) -> tuple[int, bytes]:
    child = os.fork()
    if child == 0:  # keeps the write end open until the test releases it
        while not os.path.exists(release):
            time.sleep(0.01)
        os._exit(0)
    return child, b"x" * size


def test_run_reads_the_frame_whatever_comes_around_it(tmp_path):
    # The loop's reader stops at the frame's end (a grandchild still holds the write end), a
    # result of many pipe-fulls comes in many reads, and a child that dies without writing it
    # all is a ChildError, not a hang.
    release = str(tmp_path / "release")

    async def main():
        got = await pyns.aio.run(_hold_the_result_pipe_then_return, release, 8 << 20, uts=True)
        with pytest.raises(pyns.ChildError, match="without a result"):
            await pyns.aio.run(os._exit, 3)
        return got

    orphan = None
    try:
        orphan, big = asyncio.run(main())
        assert not gone(orphan) and big == b"x" * (8 << 20)
    finally:
        open(release, "w").close()
    while orphan is not None and not gone(orphan):
        time.sleep(0.01)


def test_run_timeout_and_cancel_kill_and_reap():
    import time

    async def main():
        with pytest.raises(TimeoutError, match="within 0.1 s"):
            await pyns.aio.run(time.sleep, 60, timeout=0.1, user=True, map_root=True)
        task = asyncio.ensure_future(pyns.aio.run(time.sleep, 60, user=True, map_root=True))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())  # the leak check: both children were reaped


def test_bad_arguments_before_anything_starts():
    async def main():
        with pytest.raises(TypeError, match=r"callable, not list: .* use pyns\.spawn"):
            await pyns.aio.run(["true"])
        with pytest.raises(TypeError, match="timeout"):
            await pyns.aio.run(os.getpid, timeout="1")
        with pytest.raises(ValueError, match="stdin=PIPE"):
            p = await pyns.aio.spawn(["true"])
            try:
                await p.communicate(b"x")
            finally:
                await p.wait()

    asyncio.run(main())
    for coro in (pyns.aio.run(os.getpid), pyns.aio.spawn(["true"])):
        with pytest.raises(RuntimeError, match="no running event loop"):
            coro.send(None)  # nothing is started without a loop to watch it


def test_rootless(nobody):
    r = nobody(
        """
        import asyncio, subprocess, pyns
        async def main():
            p = await pyns.aio.spawn(["id", "-u"], user=True, map_root=True,
                                     stdout=subprocess.PIPE)
            out, _ = await p.communicate()
            uid = await pyns.aio.run(__import__("os").getuid, user=True, map_root=True)
            return out, p.returncode, uid
        print(asyncio.run(main()))
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(b'0\\n', 0, 0)"
