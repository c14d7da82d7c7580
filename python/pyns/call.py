"""``pyns.run``: a Python callable in a forked child in new or joined namespaces.

    pyns.run(os.getuid, user=True, map_root=True)   # 0
"""

from __future__ import annotations

import os
import pickle
import struct
import inspect
import sys
import time
import traceback
from inspect import CO_VARARGS, CO_VARKEYWORDS
from types import FunctionType, MethodType
from typing import Any, Callable, TypeVar

from . import _native
from .child import OPTION_NAMES, spec_of, take_options, takes_child_options
from .errors import ChildError
from .process import Process, _seconds, close_started, discard, kill_and_reap, reap_dropped

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
        frame = _LENGTH.pack(len(payload)) + payload
        written = os.write(w, frame)  # all of it, unless a signal cut the write short
        if written < len(frame):
            view = memoryview(frame)[written:]
            while view:
                view = view[os.write(w, view) :]
        _flush_std_streams()
    finally:
        os._exit(status)


@takes_child_options
def run(fn: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
    """Calls ``fn(*args, **kwargs)`` in a forked child in new (or joined) namespaces.

    The child is forked like os.fork (with the interpreter's fork hooks), sets itself up, and
    with ``pid=True`` the function runs as PID 1 of the new namespace, or PID 2 under pyns'
    init (the default), its child. Its return value comes back pickled.

    Args:
        fn: the callable; it and its result must be picklable only as far as the result goes.
        *args, **kwargs: passed to `fn` (keywords other than run's own), checked against its
            signature before anything is forked.
        timeout: seconds the function may take (finite; None: no limit); then the child is
            killed.
        cgroup, ipc, mnt, net, pid, time, user, uts, hostname, domainname, uid_map, gid_map,
            map_root, setgroups, mount_proc, init, join, monotonic, boottime, pdeathsig,
            loopback, group, extra_groups, umask, start_new_session, process_group: the child
            options (:class:`pyns.ChildOptions`), as for :func:`pyns.spawn`; subprocess's
            user/group/umask/... apply to the function's process (``user="nobody"`` runs
            `fn` as nobody).

    Returns:
        What `fn` returned.

    Raises:
        Exception: what `fn` raised, as the same type, with the child's traceback as a note.
        TimeoutError: `timeout` expired (the child was killed and reaped).
        KeyboardInterrupt: Ctrl-C while waiting (the child was killed and reaped).
        pyns.ChildError: a set-up step failed, the child died, or its result could not be
            unpickled.
        TypeError: `fn` does not take these arguments (the message lists run's own keywords).
        TypeError, ValueError, PermissionError, OSError: as for :func:`pyns.spawn`.
    """
    if not callable(fn):
        raise TypeError(
            f"run() needs a callable, not {type(fn).__name__}"
            + (": to start a program, use pyns.spawn([...])" if isinstance(fn, (list, tuple, str, bytes)) else "")
        )
    if timeout is not None:
        timeout = _seconds("timeout", timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    started: list[tuple[int, int, int]] = []
    try:
        try:
            _fork(fn, args, kwargs, started)
            _, pidfd, fd = started[0]
            # One native call, the GIL released, for the rest: few pages of this process are
            # written while the child shares them (each written page costs a fault, then).
            waited = _native.wait_result(fd, pidfd, None if deadline is None else deadline - time.monotonic())
            if waited is None:
                raise TimeoutError(f"pyns.run: the function did not return within {timeout} s")
        except BaseException:
            # SIGKILL to the child (with a pid namespace: its PID 1, which ends it all), then
            # reap it, also when another Ctrl-C comes meanwhile (or came on the way back from
            # the native call).
            kill_and_reap(started)
            raise
    finally:
        close_started(started)
    data, returncode = waited
    return _outcome(data, started[0][0], returncode)  # type: ignore[no-any-return]


def _fork(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    started: list[tuple[int, int, int]],
) -> None:
    """Forks the child that calls ``fn(*args, **kwargs)``, for run and pyns.aio.run: the child
    options are taken out of `kwargs` first. Appends (pid, pidfd, read end of the result pipe)
    to `started`, a list the caller holds (so that a Ctrl-C on the way back cannot lose the
    child): the caller kills, reaps and closes it when an exception comes. The child never
    returns from here."""
    options = take_options(kwargs)
    _check_arguments(fn, args, kwargs)
    reap_dropped()
    spec, opened = spec_of("run", options)
    _flush_std_streams()  # else the child would write the parent's buffered output again
    try:
        try:
            _native.fork(started, spec)
        finally:
            for ns in opened:
                ns.close()
        if started[0][0] == 0:
            _child_main(started[0][2], fn, args, kwargs)
    except BaseException:
        if started and started[0][0] == 0:
            os._exit(1)  # the forked child must never go back into the caller's code
        raise


def _start(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Process, int, int]:
    """Forks the child that calls ``fn(*args, **kwargs)``, for pyns.aio.run (see `_fork`).
    Returns it, its pidfd (the Process's) and the read end of its result pipe."""
    started: list[tuple[int, int, int]] = []
    made: list[Process] = []
    try:
        _fork(fn, args, kwargs, started)
        child_pid, pidfd, fd = started[0]
        proc = Process(getattr(fn, "__qualname__", repr(fn)), child_pid, pidfd, _made=made)
    except BaseException:
        # Also a Ctrl-C raised on the way back from the native call or while the Process was
        # made: nothing stays behind.
        discard(started, made)  # closes the pidfd and the result pipe
        raise
    return proc, pidfd, fd


def _check_arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """TypeError in the caller when `fn` does not take `args` and `kwargs`."""
    if _binds(fn, len(args), kwargs):
        return
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # no signature to check (some builtins)
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        name = getattr(fn, "__qualname__", repr(fn))
        own = ", ".join(("timeout",) + OPTION_NAMES)
        raise TypeError(
            f"run(): {name}() does not take these arguments: {e} (run's own keywords, which "
            f"do not go on to it: {own})"
        ) from None


def _binds(fn: Callable[..., Any], nargs: int, kwargs: dict[str, Any]) -> bool:
    """Whether a plain function (or a method of one) surely takes `nargs` positional
    arguments and `kwargs`, read from its code object as the interpreter binds a call; False
    when unsure (then inspect.signature decides).

    A shortcut, not a second check: inspect.signature builds a Signature of Parameters every
    time, touching memory that a fork made copy-on-write (a page fault each), which cost more
    than the rest of run() before the fork.
    """
    if type(fn) is MethodType:
        fn, nargs = fn.__func__, nargs + 1  # called as fn.__func__(fn.__self__, ...)
    if type(fn) is not FunctionType:
        return False
    for attribute in _SIGNATURE_ATTRIBUTES:
        if hasattr(fn, attribute):
            return False
    code = fn.__code__
    npos = code.co_argcount
    if nargs > npos and not code.co_flags & CO_VARARGS:
        return False
    names = code.co_varnames
    posonly = code.co_posonlyargcount
    named = npos + code.co_kwonlyargcount  # names[:named]: the named parameters
    given = max(posonly, min(nargs, npos))  # names[:given] must not come by keyword as well
    for k in kwargs:
        try:
            if names.index(k, 0, named) < given:
                return False  # given positionally too, or positional-only (inspect differs)
        except ValueError:
            if not code.co_flags & CO_VARKEYWORDS:
                return False
    for i in range(nargs, npos - len(fn.__defaults__ or ())):
        if i < posonly or names[i] not in kwargs:
            return False  # a required parameter not given
    kwdefaults = fn.__kwdefaults__ or {}
    for k in names[npos:named]:
        if k not in kwargs and k not in kwdefaults:
            return False  # a required keyword-only parameter not given
    return True


#: Attributes by which inspect.signature takes a function's signature from elsewhere
#: (``_partialmethod`` is ``__partialmethod__`` from Python 3.13 on).
_SIGNATURE_ATTRIBUTES = ("__wrapped__", "__signature__", "_partialmethod", "__partialmethod__")


def _outcome(data: bytes, pid: int, returncode: int | None) -> Any:
    """What the function returned, from its pickled outcome; what it raised is raised."""
    if not data:
        raise ChildError(
            f"the child (pid {pid}) exited with status {returncode} without a result",
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
    _add_note(exc, f"Traceback in the child (pid {pid}):\n{tb.rstrip()}")
    raise exc
