"""``pyns.Process`` (shaped like subprocess.Popen) and ``pyns.spawn``: a program in a child
in new or joined namespaces.

    p = pyns.spawn(["hostname"], uts=True, hostname="box", stdout=subprocess.PIPE)
    out, _ = p.communicate()            # b"box\\n"
"""

from __future__ import annotations

import codecs
import io
import locale
import os
import select
import selectors
import signal
import subprocess
import threading
import time
from typing import IO, Any, Mapping, Sequence, Union

from . import _native
from ._native import KINDS, Namespace
from .child import options_of, spec_of, takes_child_options

__all__ = ["Process", "spawn"]

_Arg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_File = Union[None, int, IO[Any]]

#: The ns entries that name where a process's program lives for kinds that apply to children.
_ENTRY = {"pid": "pid_for_children", "time": "time_for_children"}

#: Processes dropped before they were waited for; reaped on later calls (like subprocess).
#: Only atomic list operations (append, pop) touch it, so any thread (and ``__del__``, run
#: by the garbage collector at any point) may.
_unreaped: list[Process] = []


class Process:
    """A program started by :func:`pyns.spawn`, shaped like :class:`subprocess.Popen`.

    Attributes:
        args: the argument list it was started with.
        pid: its process id (with ``pid=True`` and ``init=True``: pyns' init, PID 1 inside,
            which forwards signals to the program and exits with its status).
        returncode: None while it runs; its exit status, or ``-signal`` if killed.
        stdin, stdout, stderr: file objects for ``PIPE`` streams, else None.
    """

    def __init__(
        self,
        args: Any,
        pid: int,
        pidfd: int,
        stdin: IO[bytes] | None = None,
        stdout: IO[bytes] | None = None,
        stderr: IO[bytes] | None = None,
        *,
        _made: list[Process] | None = None,
        _text: tuple[str, str | None] | None = None,
    ) -> None:
        if _made is not None:
            _made.append(self)  # first: whoever started the child may discard this object
        self.args = args
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._pidfd: int | None = pidfd
        # Held only briefly, never across a blocking call: the reaping (waitid WNOHANG), the
        # setting of returncode, the signalling and the closing of the pidfd. The pidfd stays
        # open while a thread waits on it (_users), so no call ever uses a closed or reused fd.
        # Reentrant: a signal handler runs between two bytecodes of whatever the main thread
        # does, also while it holds this lock, and one that forwards a signal to the child
        # (pyns run's, or a user's) calls send_signal there. returncode is set before the
        # pidfd is closed, so a handler never signals through a closed fd.
        self._lock = threading.RLock()
        self._users = 0
        self._namespaces: dict[str, Namespace] | None = None
        self._input: memoryview | None = None
        self._chunks: dict[int, list[bytes]] | None = None
        self._text = _text  # (encoding, errors) when the pipes are in text mode
        self.returncode: int | None = None  # last: __del__ keeps only a complete object

    def _discarded(self) -> None:
        """Marks a Process whose child was killed and reaped by whoever started it (a Ctrl-C
        came while this object was made): nothing of it is left to reap or close."""
        self._pidfd = None
        self.returncode = -signal.SIGKILL

    def __repr__(self) -> str:
        return f"<pyns.Process pid={self.pid} returncode={self.returncode!r} args={self.args!r}>"

    def _repr_html_(self) -> str:
        from .display import process_html

        return process_html(self)

    @property
    def pidfd(self) -> int | None:
        """The process's pidfd (race-free poll/wait/signal); None once it has been reaped."""
        return None if self.returncode is not None else self._pidfd

    @property
    def namespaces(self) -> dict[str, Namespace]:
        """The namespaces its program lives in, by kind, opened on first use (while it runs).

        With ``pid=True`` and the init, `pid` is the init (PID 1) and its program is PID 2;
        both live in the same namespaces. For the pid and time kinds this is the namespace
        the process's children are made in (``/proc/<pid>/ns/pid_for_children``), which is
        the program's own namespace unless the process was started in a namespace that it
        only set for its children (a relay): then it names the program's namespace where
        ``/proc/<pid>/ns/pid`` would name the caller's.

        Raises:
            ProcessLookupError: the process has already exited.
        """
        with self._lock:
            if self._namespaces is not None:
                return self._namespaces
        if self.poll() is not None:
            raise ProcessLookupError(3, f"process {self.pid} has exited; its namespaces are gone")
        out: dict[str, Namespace] = {}
        try:
            for kind in KINDS:
                path = f"/proc/{self.pid}/ns/{_ENTRY.get(kind, kind)}"
                out[kind] = Namespace.open(path, kind)
        except BaseException as e:
            for ns in out.values():
                ns.close()
            if isinstance(e, FileNotFoundError):
                raise ProcessLookupError(3, f"process {self.pid} exited; its namespaces are gone")
            raise
        with self._lock:
            if self._namespaces is None:
                self._namespaces = out
                return out
        for ns in out.values():  # another thread was first
            ns.close()
        return self._namespaces

    def _reap(self) -> bool:
        """Collects the exit status if the process has exited (never blocks).

        Returns:
            Whether it has been reaped (here or before).
        """
        with self._lock:
            if self.returncode is not None:
                return True
            assert self._pidfd is not None
            try:
                info = os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                self.returncode = 255  # reaped elsewhere (os.wait): the status is lost
            else:
                if info is None:
                    return False
                exited = info.si_code == os.CLD_EXITED
                self.returncode = info.si_status if exited else -info.si_status
            self._release()
            return True

    def _release(self) -> None:
        """Closes the pidfd once reaped and no thread waits on it (with the lock held)."""
        if self.returncode is not None and self._users == 0 and self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def _await_exit(self, timeout: float | None) -> bool:
        """Waits until the process has exited (its pidfd polls readable), at most `timeout`
        seconds (None: for ever), keeping the pidfd open meanwhile.

        Returns:
            Whether it has exited (or was reaped).
        """
        with self._lock:
            if self.returncode is not None:
                return True
            assert self._pidfd is not None
            fd = self._pidfd
            self._users += 1
        try:
            return readable(fd, timeout)
        finally:
            with self._lock:
                self._users -= 1
                self._release()

    def poll(self) -> int | None:
        """The exit status if the process has exited, else None (does not block).

        Returns:
            The returncode, or None while it runs.
        """
        self._reap()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the process to exit. Any thread may wait; one of them reaps it and all
        get the same returncode.

        Args:
            timeout: seconds to wait at most; None waits for ever.

        Returns:
            The returncode.

        Raises:
            subprocess.TimeoutExpired: still running after `timeout` seconds.
            ValueError: `timeout` is not a number (NaN included).
        """
        deadline = None if timeout is None else time.monotonic() + _seconds("timeout", timeout)
        while not self._reap():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self._await_exit(remaining)
        assert self.returncode is not None
        return self.returncode

    def communicate(
        self, input: bytes | None = None, timeout: float | None = None
    ) -> tuple[bytes | None, bytes | None]:
        """Sends `input` to stdin, reads stdout and stderr to EOF, and waits for the exit.

        Args:
            input: bytes for stdin (which must be a PIPE); stdin is closed afterwards.
            timeout: seconds at most; on expiry the call may be repeated to go on.

        Returns:
            ``(stdout_data, stderr_data)``; None for a stream that is not a PIPE.

        Raises:
            subprocess.TimeoutExpired: the timeout expired (nothing is lost; call again).
            ValueError: input given after communication started, or without a stdin PIPE.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._text is not None and isinstance(input, str):
            input = input.encode(self._text[0], self._text[1] or "strict")  # type: ignore[assignment]
        if self._chunks is None:
            self._start_communication(input)
        elif input:
            raise ValueError("Cannot send input after starting communication")
        assert self._chunks is not None
        with selectors.DefaultSelector() as sel:
            if self.stdin is not None and not self.stdin.closed and self._input is not None:
                sel.register(self.stdin, selectors.EVENT_WRITE)
            for f in (self.stdout, self.stderr):
                if f is not None and not f.closed:
                    sel.register(f, selectors.EVENT_READ)
            while sel.get_map():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
                for key, _ in sel.select(remaining):
                    if key.fileobj is self.stdin:
                        self._send_input(sel)
                    else:
                        f = key.fileobj
                        assert isinstance(f, io.IOBase)
                        data = os.read(key.fd, 65536)
                        if data:
                            self._chunks[key.fd].append(data)
                        else:
                            sel.unregister(f)
                            f.close()
        out = b"".join(self._chunks.get(-1, [])) if self.stdout is not None else None
        err = b"".join(self._chunks.get(-2, [])) if self.stderr is not None else None
        if self._text is not None:  # as subprocess: decoded, universal newlines
            out, err = (None if b is None else _translate(b, *self._text) for b in (out, err))  # type: ignore[assignment]
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            self.wait(remaining)
        except subprocess.TimeoutExpired:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0, out, err) from None
        return out, err

    def _start_communication(self, input: bytes | None) -> None:
        chunks: dict[int, list[bytes]] = {}
        for alias, f in ((-1, self.stdout), (-2, self.stderr)):
            if f is not None:
                chunks[alias] = chunks[f.fileno()] = []
        self._chunks = chunks
        if self.stdin is not None:
            try:
                self.stdin.flush()
            except BrokenPipeError:
                pass
            if input:
                self._input = memoryview(input)
            else:
                _close_quietly(self.stdin)
        elif input:
            raise ValueError("input needs stdin=subprocess.PIPE")

    def _send_input(self, sel: selectors.BaseSelector) -> None:
        assert self.stdin is not None and self._input is not None
        try:
            n = os.write(self.stdin.fileno(), self._input[: select.PIPE_BUF])
            self._input = self._input[n:]
        except BrokenPipeError:
            self._input = self._input[:0]
        if not self._input:
            sel.unregister(self.stdin)
            _close_quietly(self.stdin)

    def send_signal(self, sig: int) -> None:
        """Sends signal `sig` through the pidfd; nothing once the process is reaped.

        Args:
            sig: a signal number (``signal.SIGTERM``).

        Raises:
            PermissionError: not allowed to signal it.
        """
        with self._lock:  # the pidfd cannot be closed meanwhile
            if self.returncode is not None:
                return
            assert self._pidfd is not None
            try:
                signal.pidfd_send_signal(self._pidfd, sig)
            except ProcessLookupError:
                pass  # exited, not reaped yet

    def terminate(self) -> None:
        """Sends SIGTERM (with the init, it is forwarded to the program)."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Sends SIGKILL (to PID 1 of a new pid namespace: everything in it dies)."""
        self.send_signal(signal.SIGKILL)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in (self.stdout, self.stderr):
            if f is not None:
                f.close()
        if self.stdin is not None:
            _close_quietly(self.stdin)
        self.wait()

    def __del__(self) -> None:
        # No lock here: the collector may run this in a thread that holds one. A finalizer
        # runs once; the object lives on in the list until reap_dropped reaps it.
        if getattr(self, "returncode", 0) is None:
            _unreaped.append(self)


def readable(fd: int, timeout: float | None) -> bool:
    """Waits until `fd` is readable (a pidfd: the process exited), at most `timeout` seconds
    (None: for ever).

    poll(2) rather than select(2), which cannot watch fds above 1023 (a process with a big
    pyns.testing topology has thousands open).

    Returns:
        Whether it is readable.
    """
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(timeout, 0.0) * 1000))


def _seconds(name: str, value: Any) -> float:
    """A finite, non-negative number of seconds; TypeError/ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number of seconds (None waits for ever), not {value}")
    return float(value)


def _close_quietly(f: IO[bytes]) -> None:
    try:
        f.close()
    except BrokenPipeError:
        pass


def reap_dropped() -> None:
    """Reaps the dropped processes that have exited since (safe from any thread: each entry
    is taken out by one thread, and put back if it still runs)."""
    for _ in range(len(_unreaped)):
        try:
            p = _unreaped.pop(0)
        except IndexError:
            return
        if p.poll() is None:
            _unreaped.append(p)


def _argv(args: Sequence[_Arg]) -> list[bytes]:
    if isinstance(args, (str, bytes, os.PathLike)):
        raise TypeError(
            "args must be a sequence like ['ls', '-l'], not a single "
            f"{type(args).__name__} (no shell is involved)"
        )
    argv = [os.fsencode(a) for a in args]
    if not argv:
        raise ValueError("args must not be empty")
    return argv


def _fd_number(name: str, fd: Any) -> int:
    """An fd number; TypeError/ValueError naming `name` (no OverflowError)."""
    if isinstance(fd, bool) or not isinstance(fd, int):
        raise TypeError(f"{name} must hold fd numbers (int), not {type(fd).__name__}")
    if not 0 <= fd <= _MAX_FD:
        raise ValueError(f"{name}: {fd} is no fd number (0 to {_MAX_FD})")
    return fd


#: The largest fd number (a C int).
_MAX_FD = 2**31 - 1


def _envp(env: Mapping[Any, Any] | None) -> list[bytes]:
    if env is not None and not isinstance(env, Mapping):
        raise TypeError(f"env must be a mapping like os.environ or None, not {type(env).__name__}")
    items = os.environb.items() if env is None else env.items()
    out = []
    for k, v in items:
        k, v = os.fsencode(k), os.fsencode(v)
        if not k or b"=" in k:
            raise ValueError(f"illegal environment variable name {k!r}")
        out.append(k + b"=" + v)
    return out


def _executables(argv0: bytes, env: Mapping[Any, Any] | None) -> list[bytes]:
    if os.path.dirname(argv0):
        return [argv0]
    return [os.path.join(os.fsencode(d), argv0) for d in os.get_exec_path(env)]


def _translate(data: bytes, encoding: str, errors: str | None) -> str:
    return data.decode(encoding, errors or "strict").replace("\r\n", "\n").replace("\r", "\n")


def _text_mode(
    text: object, encoding: object, errors: object, bufsize: object
) -> tuple[tuple[str, str | None] | None, int, bool]:
    """Checks subprocess's text/encoding/errors/bufsize; returns (encoding, errors) in text
    mode (else None), the buffering of the parent's pipe ends and whether lines are flushed."""
    if not isinstance(text, bool):
        raise TypeError(f"text must be a bool, not {type(text).__name__}")
    for name, value in (("encoding", encoding), ("errors", errors)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
    if isinstance(bufsize, bool) or not isinstance(bufsize, int):
        raise TypeError(f"bufsize must be an int, not {type(bufsize).__name__}")
    mode = None
    if text or encoding is not None or errors is not None:
        if encoding is not None:
            codecs.lookup(encoding)  # LookupError for an unknown one, before anything starts
        mode = (encoding or locale.getpreferredencoding(False), errors)
    line = bufsize == 1 and mode is not None
    return mode, (-1 if bufsize == 1 else bufsize), line


class _Stdio:
    """The child's fds 0-2 and the parent's ends, as subprocess.Popen arranges them."""

    def __init__(self, stdin: _File, stdout: _File, stderr: _File, buffering: int = -1) -> None:
        self.buffering = buffering
        self.child: list[int] = [-1, -1, -1]
        self.parent: list[IO[bytes] | None] = [None, None, None]
        self.to_close: list[int] = []  # child ends, closed in the parent after the spawn
        try:
            for i, spec in enumerate((stdin, stdout, stderr)):
                self.child[i] = self._fd(i, spec)
        except BaseException:
            self.close_all()
            raise

    def _fd(self, i: int, spec: _File) -> int:
        if spec is None:
            return -1
        if spec == subprocess.PIPE:
            r, w = os.pipe()
            mine, theirs = (w, r) if i == 0 else (r, w)
            self.to_close.append(theirs)
            self.parent[i] = io.open(mine, "wb" if i == 0 else "rb", buffering=self.buffering)
            return theirs
        if spec == subprocess.DEVNULL:
            fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            self.to_close.append(fd)
            return fd
        if spec == subprocess.STDOUT:
            if i != 2:
                raise ValueError("subprocess.STDOUT is only valid for stderr")
            return self.child[1] if self.child[1] >= 0 else 1
        if isinstance(spec, bool):
            raise TypeError("stdin/stdout/stderr must be a file, an fd, PIPE or DEVNULL")
        if isinstance(spec, int):
            return _fd_number(("stdin", "stdout", "stderr")[i], spec)
        fileno = getattr(spec, "fileno", None)
        if fileno is None:
            raise TypeError("stdin/stdout/stderr must be a file, an fd, PIPE or DEVNULL")
        return int(fileno())

    def close_child_ends(self) -> None:
        for fd in self.to_close:
            os.close(fd)
        self.to_close = []

    def close_all(self) -> None:
        self.close_child_ends()
        for f in self.parent:
            if f is not None:
                f.close()


@takes_child_options
def spawn(
    args: Sequence[_Arg],
    *,
    cwd: _Arg | None = None,
    env: Mapping[Any, Any] | None = None,
    stdin: _File = None,
    stdout: _File = None,
    stderr: _File = None,
    pass_fds: Sequence[int] = (),
    close_fds: bool = True,
    text: bool = False,
    encoding: str | None = None,
    errors: str | None = None,
    bufsize: int = -1,
    **options: Any,
) -> Process:
    """Starts a program in a child in new (or joined) namespaces, like subprocess.Popen.

    The child is made by clone3 with the namespace flags and runs nothing but system calls
    until ``execve``; no shell is involved. It waits until the parent has written its id maps.

    Args:
        args: the program and its arguments (str, bytes or path-like items; the program is
            looked up in ``PATH`` of `env`, as subprocess does).
        cwd: the child's working directory.
        env: the environment (default: os.environ).
        stdin, stdout, stderr: None (inherit), subprocess.PIPE, subprocess.DEVNULL, an fd or
            a file object; stderr may be subprocess.STDOUT.
        pass_fds: fds the child keeps open (besides 0, 1, 2).
        close_fds: close every other inherited fd (default True).
        text, encoding, errors: as subprocess: the parent's pipe ends (and communicate's
            input and output) are text, decoded with `encoding` (default: the locale's) and
            `errors`, with universal newlines; any of them turns text mode on.
        bufsize: as subprocess: the buffering of the parent's pipe ends (0 unbuffered, 1 line
            buffered in text mode, -1 the default).
        **options: the child options (:class:`pyns.ChildOptions`): cgroup, ipc, mnt, net,
            pid, time, user, uts (new namespaces), hostname, domainname, uid_map, gid_map,
            map_root, setgroups, mount_proc, init, join, monotonic, boottime, pdeathsig,
            loopback; and subprocess's user (a name or uid, not a bool), group,
            extra_groups, umask, start_new_session, process_group, which the child sets
            after its namespaces and chdir, before execve (ids as seen in its user
            namespace).

    Returns:
        A running :class:`pyns.Process`.

    Raises:
        TypeError, ValueError: bad arguments, named (before anything is started), also an
            unknown user or group name (looked up in the caller's passwd and group).
        FileNotFoundError, PermissionError: the program cannot be executed (``.filename``
            names it), or `cwd` is missing.
        PermissionError: a missing privilege (making or joining a namespace, writing an id
            map), with a note naming it and the fix (often ``user=True``).
        pyns.ChildError: another set-up step of the child failed (``.step``, ``.errno``),
            e.g. a uid not mapped in the child's user namespace (EINVAL).
        OSError: creating the child failed, with a note saying what was being done.
    """
    reap_dropped()
    given = options_of("spawn", options)
    argv = _argv(args)
    envp = _envp(env)
    executables = _executables(argv[0], env)
    if not isinstance(close_fds, bool):
        raise TypeError("close_fds must be a bool")
    fds = [_fd_number("pass_fds", fd) for fd in pass_fds]
    text_mode, buffering, line = _text_mode(text, encoding, errors, bufsize)
    spec, opened = spec_of("spawn", given)
    started: list[tuple[int, int]] = []
    made: list[Process] = []
    try:
        stdio = _Stdio(stdin, stdout, stderr, buffering)
        try:
            _native.spawn(
                started,
                spec,
                argv,
                executables,
                envp,
                None if cwd is None else os.fsencode(cwd),
                tuple(stdio.child),
                fds,
                close_fds,
            )
            stdio.close_child_ends()
            ends: list[Any] = list(stdio.parent)
            if text_mode is not None:
                for i, f in enumerate(ends):
                    if f is not None:
                        ends[i] = io.TextIOWrapper(
                            f, *text_mode, write_through=i == 0, line_buffering=line and i == 0
                        )
            return Process(list(args), *started[0], *ends, _made=made, _text=text_mode)
        except BaseException:
            # Also a Ctrl-C raised on the way back from the native call or while the Process
            # was made: nothing stays behind.
            discard(started, made)
            stdio.close_all()
            raise
    finally:
        for ns in opened:
            ns.close()


def kill_and_reap(started: Sequence[tuple[int, ...]]) -> None:
    """Kills (SIGKILL) and reaps the children in `started` ((pid, pidfd, ...) each); a
    KeyboardInterrupt meanwhile is raised after that."""
    interrupted: BaseException | None = None
    for _, pidfd, *_ in started:
        while True:
            try:
                try:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass  # exited, or already reaped
                try:
                    os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
                except ChildProcessError:
                    pass  # already reaped
                break
            except KeyboardInterrupt as e:
                interrupted = e
    if interrupted is not None:
        raise interrupted


def discard(started: Sequence[tuple[int, ...]], made: Sequence[Process]) -> None:
    """Kills (SIGKILL), reaps and closes the children in `started` ((pid, pidfd, other fds
    of the child's...) each), which no Process owns: those in `made` were being made when an
    exception came."""
    try:
        kill_and_reap(started)
    finally:
        close_started(started)
        for p in made:
            p._discarded()


def close_started(started: Sequence[tuple[int, ...]]) -> None:
    """Closes the fds of the children in `started` ((pid, fds...) each) in one native call:
    a Ctrl-C between two closes would leak the rest."""
    _native.close_fds(*(fd for _, *fds in started for fd in fds))
