"""``pyns.aio``: children in new namespaces, awaited from asyncio.

    p = await pyns.aio.spawn(["hostname"], uts=True, hostname="box", stdout=subprocess.PIPE)
    out, _ = await p.communicate()            # b"box\\n"
    users = await pyns.aio.run(os.getuid, user=True, map_root=True)   # 0

Built on what a ``pyns.Process`` holds: its pidfd becomes readable when the process exits, and
the loop watches it with ``add_reader``; pipes are connected with ``connect_read_pipe`` /
``connect_write_pipe``. No helper thread, no child watcher, no SIGCHLD handler: it works on
every loop that supports ``add_reader`` on Linux (the default selector loop, uvloop).

Cancelling a task that awaits a child (``wait``, ``communicate``, ``run``) kills the child
with SIGKILL and reaps it before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any, Callable, Optional, Sequence, TypeVar

from . import _native, call
from .process import Process, spawn as _spawn

__all__ = ["AsyncProcess", "run", "spawn"]

T = TypeVar("T")


class _Exit:
    """The exit of one ``Process``, awaited by any number of tasks: the loop watches its pidfd
    (readable once the process has exited) and wakes them all."""

    def __init__(self, proc: Process) -> None:
        self.proc = proc
        self._waiters: list[asyncio.Future[None]] = []
        self._watched: Optional[tuple[asyncio.AbstractEventLoop, int]] = None

    def _fire(self) -> None:
        self._unwatch()
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _unwatch(self) -> None:
        if self._watched is not None:
            loop, fd = self._watched
            self._watched = None
            loop.remove_reader(fd)

    def future(self) -> asyncio.Future[None]:
        """A future done once the process has exited (not yet reaped)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        fd = self.proc.pidfd
        if self.proc.returncode is not None or fd is None:
            fut.set_result(None)
            return fut
        if self._watched is None:
            loop.add_reader(fd, self._fire)
            self._watched = (loop, fd)
        self._waiters.append(fut)
        return fut

    def discard(self, fut: asyncio.Future[None]) -> None:
        """Forgets a waiter; the pidfd is no longer watched once none is left."""
        if fut in self._waiters:
            self._waiters.remove(fut)
        if not self._waiters:
            self._unwatch()

    def kill_and_reap(self) -> None:
        """SIGKILL, then a blocking reap: a killed process is gone at once (PID 1 of a pid
        namespace takes the rest with it). The pidfd is unwatched before it is closed."""
        self._unwatch()
        self.proc.kill()
        self.proc.wait()
        self._fire()

    async def wait(self) -> int:
        """Waits until the process exits, then reaps it; cancelled: kills and reaps it."""
        fut = self.future()
        try:
            await fut
        except asyncio.CancelledError:
            self.discard(fut)
            self.kill_and_reap()
            raise
        return self.proc.wait()  # it has exited: this reaps it at once


class _PipeReader(asyncio.StreamReaderProtocol):
    """A read pipe's protocol whose transport closes at EOF on every loop: uvloop keeps it
    open when ``eof_received`` returns True, as StreamReaderProtocol's does (for half-closed
    sockets); the default loop closes a pipe at EOF whatever it returns."""

    def eof_received(self) -> bool:
        super().eof_received()
        return False


class AsyncProcess:
    """A child started by :func:`pyns.aio.spawn`, shaped like ``asyncio.subprocess.Process``.

    Attributes:
        stdin: an ``asyncio.StreamWriter`` when started with ``stdin=PIPE``, else None.
        stdout, stderr: ``asyncio.StreamReader`` when started with ``PIPE``, else None.
        process: the underlying :class:`pyns.Process`.
    """

    def __init__(
        self,
        process: Process,
        stdin: Optional[asyncio.StreamWriter],
        stdout: Optional[asyncio.StreamReader],
        stderr: Optional[asyncio.StreamReader],
        _pipes: Sequence[asyncio.BaseTransport] = (),
    ) -> None:
        self.process = process
        self._exit = _Exit(process)
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._pipes = list(_pipes)  # the read pipes' transports, closed if abandoned

    def __repr__(self) -> str:
        return f"<pyns.aio.AsyncProcess {self.pid}>"

    @property
    def pid(self) -> int:
        """The child's process id (as seen from here)."""
        return self.process.pid

    @property
    def returncode(self) -> Optional[int]:
        """The exit status once reaped (``-N`` if killed by signal N), else None."""
        return self.process.returncode

    async def wait(self) -> int:
        """Waits for the child to exit, and reaps it.

        Returns:
            The exit status (``-N`` if it was killed by signal N).

        Raises:
            asyncio.CancelledError: the waiting task was cancelled; the child was killed and
                reaped first.
        """
        return await self._exit.wait()

    async def communicate(self, input: Optional[bytes] = None) -> tuple[Optional[bytes], Optional[bytes]]:
        """Sends `input` to stdin (then closes it), reads stdout and stderr to the end, and
        waits for the child to exit.

        Args:
            input: bytes for the child's stdin (which must be a PIPE), or None.

        Returns:
            ``(stdout, stderr)``: bytes for each stream that is a PIPE, else None.

        Raises:
            ValueError: `input` without ``stdin=PIPE``.
            asyncio.CancelledError: the task was cancelled; the child was killed and reaped.
        """
        if input is not None and self.stdin is None:
            raise ValueError("communicate(input=...) needs stdin=PIPE")
        try:
            results = await asyncio.gather(
                self._feed(input), self._read(self.stdout), self._read(self.stderr)
            )
        except asyncio.CancelledError:
            self._exit.kill_and_reap()
            for pipe in self._pipes:  # what the child wrote is not wanted any more
                pipe.close()
            raise
        await self._exit.wait()
        return results[1], results[2]

    async def _feed(self, input: Optional[bytes]) -> None:
        if self.stdin is None:
            return
        try:
            if input:
                self.stdin.write(input)
                await self.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child stopped reading, as subprocess ignores it
        finally:
            self.stdin.close()

    @staticmethod
    async def _read(stream: Optional[asyncio.StreamReader]) -> Optional[bytes]:
        if stream is None:
            return None
        return await stream.read()

    def send_signal(self, sig: int) -> None:
        """Sends signal `sig` through the pidfd; nothing once the child is reaped.

        Args:
            sig: the signal number.
        """
        self.process.send_signal(sig)

    def terminate(self) -> None:
        """Sends SIGTERM."""
        self.process.terminate()

    def kill(self) -> None:
        """Sends SIGKILL."""
        self.process.kill()


async def spawn(args: Sequence[Any], **kwargs: Any) -> AsyncProcess:
    """Starts a program in new (or joined) namespaces, for asyncio.

    Args:
        args: the program and its arguments, as for :func:`pyns.spawn`.
        **kwargs: as for :func:`pyns.spawn` (``uts=True``, ``user=True``, ``stdout=PIPE``,
            subprocess's ``user="nobody"``, ``umask=``, ``start_new_session=``, ...);
            ``stdin``/``stdout``/``stderr`` given as ``subprocess.PIPE`` become asyncio
            streams.

    Returns:
        An :class:`AsyncProcess`, shaped like ``asyncio.subprocess.Process``.

    Raises:
        RuntimeError: no running event loop.
        FileNotFoundError, OSError, pyns.ChildError, TypeError, ValueError: as for
            :func:`pyns.spawn`.
    """
    loop = asyncio.get_running_loop()
    for name in ("text", "encoding", "errors"):
        if kwargs.get(name):
            raise ValueError(f"{name}= is not supported: asyncio streams carry bytes")
    proc = _spawn(args, **kwargs)
    pipes: list[asyncio.BaseTransport] = []  # the read pipes'
    stdin = stdout = stderr = None
    try:
        if proc.stdin is not None:
            transport, protocol = await loop.connect_write_pipe(
                lambda: asyncio.streams.FlowControlMixin(loop=loop), proc.stdin
            )
            stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        if proc.stdout is not None:
            stdout = await _reader(loop, proc.stdout, pipes)
        if proc.stderr is not None:
            stderr = await _reader(loop, proc.stderr, pipes)
    except BaseException:
        _Exit(proc).kill_and_reap()
        for pipe in pipes:
            pipe.close()
        if stdin is not None:
            stdin.close()
        raise
    return AsyncProcess(proc, stdin, stdout, stderr, pipes)


async def _reader(
    loop: asyncio.AbstractEventLoop, pipe: Any, pipes: list[asyncio.BaseTransport]
) -> asyncio.StreamReader:
    """A stream reading `pipe`; its transport is appended to `pipes`."""
    reader = asyncio.StreamReader(loop=loop)
    transport, _ = await loop.connect_read_pipe(lambda: _PipeReader(reader, loop=loop), pipe)
    pipes.append(transport)
    return reader


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Calls ``fn(*args, **kwargs)`` in a forked child in new (or joined) namespaces, for
    asyncio: the loop watches the result pipe and the child's pidfd.

    Args:
        fn: the callable; its result must be picklable.
        *args, **kwargs: passed to `fn`, except the keywords of :func:`pyns.run`
            (``user=True``, ``net=True``, ``timeout=``, ...).

    Returns:
        What `fn` returned.

    Raises:
        Exception: what `fn` raised, with the child's traceback as a note.
        TimeoutError: ``timeout=`` expired (the child was killed and reaped).
        asyncio.CancelledError: the task was cancelled; the child was killed and reaped.
        pyns.ChildError, TypeError, ValueError, OSError: as for :func:`pyns.run`.
    """
    asyncio.get_running_loop()  # RuntimeError before anything is forked
    if not callable(fn):
        raise TypeError(
            f"run() needs a callable, not {type(fn).__name__}"
            + (": to start a program, use pyns.spawn([...])" if isinstance(fn, (list, tuple, str, bytes)) else "")
        )
    timeout = kwargs.pop("timeout", None)
    if timeout is not None:
        timeout = call._seconds("timeout", timeout)
    proc, pidfd, fd = call._start(fn, args, kwargs)  # takes the child options out of kwargs
    exit = _Exit(proc)
    try:
        try:
            data = await asyncio.wait_for(_result(fd, pidfd, exit), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"pyns.aio.run: the function did not return within {timeout} s"
            ) from None
        await exit.wait()
    except BaseException:
        exit.kill_and_reap()
        raise
    finally:
        os.close(fd)
    return call._outcome(data, proc.pid, proc.returncode)  # type: ignore[no-any-return]


async def _result(fd: int, pidfd: int, exit: _Exit) -> bytes:
    """The child's pickled outcome, read whenever the loop sees `fd` readable or the child
    exited; b"" if the child exited without writing all of it."""
    loop = asyncio.get_running_loop()
    reader = _native.ResultReader(fd, pidfd)
    while (data := reader.read()) is None:
        readable = loop.create_future()
        loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
        ended = exit.future()
        try:
            await asyncio.wait([readable, ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(fd)
            exit.discard(ended)
    return data


# The shape of subprocess, for `from pyns.aio import PIPE`.
PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT
