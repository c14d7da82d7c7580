"""``pyns.run``: a Python callable in a forked child in new or joined namespaces.

    pyns.run(os.getuid, user=True, map_root=True)   # 0
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import sys
import time
import traceback
from typing import Any, Callable, Mapping, TypeVar

from . import _native
from .child import child_spec
from .errors import ChildError
from .process import Process, reap_dropped

__all__ = ["run"]

T = TypeVar("T")


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python < 3.11
        notes = getattr(exc, "__notes__", None)
        if notes is None:
            exc.__notes__ = notes = []  # type: ignore[attr-defined]
        notes.append(note)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


#: The result's length, ahead of it: the parent stops reading there, so a copy of the pipe's
#: write end in a process the function started (or in an unrelated fork) cannot stall it.
_LENGTH = struct.Struct("=Q")


def _child_main(w: int, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Runs in the forked child: calls fn, sends the pickled outcome, exits. Never returns."""
    status = 0
    try:
        try:
            payload = pickle.dumps((True, fn(*args, **kwargs)), pickle.HIGHEST_PROTOCOL)
        except BaseException as e:
            status = 1
            tb = traceback.format_exc()
            try:
                payload = pickle.dumps((False, e, tb), pickle.HIGHEST_PROTOCOL)
            except BaseException:
                payload = pickle.dumps((False, None, tb), pickle.HIGHEST_PROTOCOL)
        view = memoryview(_LENGTH.pack(len(payload)) + payload)
        while view:
            view = view[os.write(w, view) :]
        _flush_std_streams()
    finally:
        os._exit(status)


def _read_result(r: int, pidfd: int, deadline: float | None, timeout: float | None) -> bytes:
    """The child's pickled outcome; b"" if it exited without writing all of it."""
    os.set_blocking(r, False)
    buf = bytearray()
    exited = False
    while True:
        if len(buf) >= _LENGTH.size:
            end = _LENGTH.size + _LENGTH.unpack_from(buf)[0]
            if len(buf) >= end:
                return bytes(buf[_LENGTH.size : end])
        try:
            data = os.read(r, 1 << 20)
        except BlockingIOError:
            data = None
        if data:
            buf += data
            continue
        if data == b"" or exited:
            return b""  # EOF, or the child has exited and everything it wrote was read
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError(f"pyns.run: the function did not return within {timeout} s")
        # poll(2), not select(2), which cannot watch fds above 1023.
        poller = select.poll()
        poller.register(r, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        ready = poller.poll(None if remaining is None else remaining * 1000)
        exited = any(fd == pidfd for fd, _ in ready)


def run(
    fn: Callable[..., T],
    *args: Any,
    cgroup: bool = False,
    ipc: bool = False,
    mnt: bool = False,
    net: bool = False,
    pid: bool = False,
    time: bool = False,
    user: bool = False,
    uts: bool = False,
    hostname: str | None = None,
    domainname: str | None = None,
    uid_map: Any = None,
    gid_map: Any = None,
    map_root: bool = False,
    setgroups: str = "deny",
    mount_proc: bool = False,
    init: bool = True,
    join: Mapping[str, Any] | None = None,
    monotonic: float | None = None,
    boottime: float | None = None,
    pdeathsig: int | None = signal.SIGKILL,
    timeout: float | None = None,
    **kwargs: Any,
) -> T:
    """Calls ``fn(*args, **kwargs)`` in a forked child in new (or joined) namespaces.

    The child is forked like os.fork (with the interpreter's fork hooks), sets itself up, and
    with ``pid=True`` the function runs as PID 1 of the new namespace, or PID 2 under pyns'
    init (the default). Its return value comes back pickled.

    Args:
        fn: the callable; it and its result must be picklable only as far as the result goes.
        *args, **kwargs: passed to `fn` (keywords other than those below).
        cgroup, ipc, mnt, net, pid, time, user, uts, hostname, domainname, uid_map, gid_map,
        map_root, setgroups, mount_proc, init, join, monotonic, boottime, pdeathsig: as for
            :func:`pyns.spawn`.
        timeout: seconds the function may take; then the child is killed.

    Returns:
        What `fn` returned.

    Raises:
        Exception: what `fn` raised, as the same type, with the child's traceback as a note.
        TimeoutError: `timeout` expired (the child was killed and reaped).
        KeyboardInterrupt: Ctrl-C while waiting (the child was killed and reaped).
        pyns.ChildError: a set-up step failed, the child died, or its result could not be
            unpickled.
        TypeError, ValueError, OSError: as for :func:`pyns.spawn`.
    """
    if not callable(fn):
        raise TypeError(f"run() needs a callable, not {type(fn).__name__}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise TypeError("timeout must be a number of seconds or None")
    reap_dropped()
    spec, opened = child_spec(
        "run", cgroup, ipc, mnt, net, pid, time, user, uts, hostname, domainname, uid_map,
        gid_map, map_root, setgroups, mount_proc, init, join, monotonic, boottime, pdeathsig,
    )  # fmt: skip
    deadline = None if timeout is None else _monotonic() + timeout
    proc, fd = _start(fn, args, kwargs, spec, opened)
    pidfd = proc.pidfd
    assert pidfd is not None
    try:
        data = _read_result(fd, pidfd, deadline, timeout)
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        os.close(fd)
    return _outcome(data, proc)  # type: ignore[no-any-return]


def _start(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    spec: _native.ChildSpec,
    opened: list[Any],
) -> tuple[Process, int]:
    """Forks the child that calls ``fn(*args, **kwargs)`` (run's, and pyns.aio.run's); closes
    the handles `opened` for the spec. Returns it and the read end of its result pipe."""
    _flush_std_streams()  # else the child would write the parent's buffered output again
    try:
        child_pid, pidfd, init_handle, fd = _native.fork(spec)
    finally:
        for ns in opened:
            ns.close()
    if child_pid == 0:
        _child_main(fd, fn, args, kwargs)
    proc = Process(getattr(fn, "__qualname__", repr(fn)), child_pid, pidfd, init=init_handle)
    return proc, fd


def _monotonic() -> float:  # run() has a parameter named `time`
    return time.monotonic()


def _outcome(data: bytes, proc: Process) -> Any:
    if not data:
        raise ChildError(
            f"the child (pid {proc.pid}) exited with status {proc.returncode} without a "
            "result",
            "run the function",
        )
    try:
        ok, *rest = pickle.loads(data)
    except Exception as e:
        raise ChildError(f"cannot unpickle the child's result: {e!r}", "unpickle the result") from e
    if ok:
        return rest[0]
    exc, tb = rest
    if exc is None:
        raise ChildError(
            f"the function raised an exception that cannot be pickled:\n{tb}", "run the function"
        )
    _add_note(exc, f"Traceback in the child (pid {proc.pid}):\n{tb.rstrip()}")
    raise exc
