"""``pyns.Process`` (shaped like subprocess.Popen) and ``pyns.spawn``: a program in a child
in new or joined namespaces.

    p = pyns.spawn(["hostname"], uts=True, hostname="box", stdout=subprocess.PIPE)
    out, _ = p.communicate()            # b"box\\n"
"""

from __future__ import annotations

import io
import os
import select
import selectors
import signal
import subprocess
import time
from typing import IO, Any, Mapping, Sequence, Union

from . import _native
from ._native import KINDS, Namespace
from .child import child_spec

__all__ = ["Process", "spawn"]

_Arg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_File = Union[None, int, IO[Any]]

#: The ns entries that name where a process's program lives for kinds that apply to children.
_ENTRY = {"pid": "pid_for_children", "time": "time_for_children"}

#: Processes dropped before they were waited for; reaped on later calls (like subprocess).
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
        init: _native.Init | None = None,
    ) -> None:
        self.args = args
        self.pid = pid
        self.returncode: int | None = None
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._pidfd: int | None = pidfd
        self._init = init  # a light PID 1 beside it (pyns.run as root), reaped after it
        self._namespaces: dict[str, Namespace] | None = None
        self._input: memoryview | None = None
        self._chunks: dict[int, list[bytes]] | None = None

    def __repr__(self) -> str:
        return f"<pyns.Process pid={self.pid} returncode={self.returncode!r} args={self.args!r}>"

    def _repr_html_(self) -> str:
        from .display import process_html

        return process_html(self)

    @property
    def pidfd(self) -> int | None:
        """The process's pidfd (race-free poll/wait/signal); None once it has been reaped."""
        return self._pidfd

    @property
    def namespaces(self) -> dict[str, Namespace]:
        """The process's namespaces by kind, opened on first use (while it runs).

        Raises:
            ProcessLookupError: the process has already exited.
        """
        if self._namespaces is None:
            if self.poll() is not None:
                raise ProcessLookupError(3, f"process {self.pid} has exited; its namespaces are gone")
            out: dict[str, Namespace] = {}
            try:
                for kind in KINDS:
                    path = f"/proc/{self.pid}/ns/{_ENTRY.get(kind, kind)}"
                    out[kind] = Namespace.open(path, kind)
            except FileNotFoundError:
                for ns in out.values():
                    ns.close()
                raise ProcessLookupError(3, f"process {self.pid} exited; its namespaces are gone")
            self._namespaces = out
        return self._namespaces

    def _reap(self, block: bool) -> bool:
        """Collects the exit status if the process has exited (waits if `block`)."""
        if self._pidfd is None:
            return True
        flags = os.WEXITED | (0 if block else os.WNOHANG)
        try:
            info = os.waitid(os.P_PIDFD, self._pidfd, flags)
        except ChildProcessError:
            info = None
            self.returncode = 255  # reaped elsewhere (os.wait): the status is lost
        if info is None and self.returncode is None:
            return False
        if info is not None:
            exited = info.si_code == os.CLD_EXITED
            self.returncode = info.si_status if exited else -info.si_status
        os.close(self._pidfd)
        self._pidfd = None
        if self._init is not None:
            self._init.wait()
            self._init = None
        return True

    def poll(self) -> int | None:
        """The exit status if the process has exited, else None (does not block).

        Returns:
            The returncode, or None while it runs.
        """
        self._reap(block=False)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the process to exit.

        Args:
            timeout: seconds to wait at most; None waits for ever.

        Returns:
            The returncode.

        Raises:
            subprocess.TimeoutExpired: still running after `timeout` seconds.
        """
        if timeout is None:
            self._reap(block=True)
        else:
            deadline = time.monotonic() + timeout
            while not self._reap(block=False):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._pidfd is None:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                readable(self._pidfd, remaining)
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
        if self._pidfd is None:
            return
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
        if self._pidfd is not None and self.returncode is None:
            _unreaped.append(self)


def readable(fd: int, timeout: float) -> bool:
    """Waits until `fd` is readable (a pidfd: the process exited), at most `timeout` seconds.

    poll(2) rather than select(2), which cannot watch fds above 1023 (a process with a big
    pyns.testing topology has thousands open).

    Returns:
        Whether it is readable.
    """
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(timeout, 0.0) * 1000))


def _close_quietly(f: IO[bytes]) -> None:
    try:
        f.close()
    except BrokenPipeError:
        pass


def reap_dropped() -> None:
    """Reaps the dropped processes that have exited since."""
    for p in list(_unreaped):
        if p.poll() is not None:
            _unreaped.remove(p)


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


def _envp(env: Mapping[Any, Any] | None) -> list[bytes]:
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


class _Stdio:
    """The child's fds 0-2 and the parent's ends, as subprocess.Popen arranges them."""

    def __init__(self, stdin: _File, stdout: _File, stderr: _File) -> None:
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
            self.parent[i] = io.open(mine, "wb" if i == 0 else "rb")
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
            if spec < 0:
                raise ValueError(f"bad file descriptor {spec}")
            return spec
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


def spawn(
    args: Sequence[_Arg],
    *,
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
    cwd: _Arg | None = None,
    env: Mapping[Any, Any] | None = None,
    stdin: _File = None,
    stdout: _File = None,
    stderr: _File = None,
    pass_fds: Sequence[int] = (),
    close_fds: bool = True,
    pdeathsig: int | None = signal.SIGKILL,
) -> Process:
    """Starts a program in a child in new (or joined) namespaces, like subprocess.Popen.

    The child is made by clone3 with the namespace flags and runs nothing but system calls
    until ``execve``; no shell is involved. It waits until the parent has written its id maps.

    Args:
        args: the program and its arguments (str, bytes or path-like items; the program is
            looked up in ``PATH`` of `env`, as subprocess does).
        cgroup, ipc, mnt, net, pid, time, user, uts: create a new namespace of that kind.
            With ``pid=True`` the child is PID 1 of it (see `init`).
        hostname, domainname: set in the new UTS namespace (imply ``uts=True``).
        uid_map, gid_map: id maps for the new user namespace (imply ``user=True``):
            ``[(inside, outside, count), ...]``, kernel text or a :class:`pyns.IdMap`;
            multi-range maps go through newuidmap/newgidmap when unprivileged.
        map_root: map root inside to the caller's uid and gid (like ``unshare -r``).
        setgroups: ``"deny"`` (default, needed for an unprivileged gid map) or ``"allow"``.
        mount_proc: mount a fresh /proc inside (implies ``mnt=True``; use with ``pid=True``).
        init: with ``pid=True``, PID 1 is pyns' init (reaps orphans, forwards signals, exits
            with the program's status) and the program is PID 2; False: the program is PID 1.
        join: ``{"net": target, ...}``: start in existing namespaces; a target is a
            Namespace, Process, pid, nsfs path or (for net) an iproute2 netns name. The user
            namespace is joined first when the others need its privileges (as nsenter).
        monotonic, boottime: offsets in seconds of a new time namespace (imply ``time=True``).
        cwd: the child's working directory.
        env: the environment (default: os.environ).
        stdin, stdout, stderr: None (inherit), subprocess.PIPE, subprocess.DEVNULL, an fd or
            a file object; stderr may be subprocess.STDOUT.
        pass_fds: fds the child keeps open (besides 0, 1, 2).
        close_fds: close every other inherited fd (default True).
        pdeathsig: signal the child gets when the thread that spawned it exits (default
            SIGKILL; None: none). Spawn from a thread that outlives the child.

    Returns:
        A running :class:`pyns.Process`.

    Raises:
        TypeError, ValueError: bad arguments (before anything is started).
        FileNotFoundError, PermissionError: the program cannot be executed (``.filename``
            names it), or `cwd` is missing.
        pyns.ChildError: a set-up step of the child failed (``.step``, ``.errno``).
        OSError: creating the child failed (PermissionError without the privilege: use
            ``user=True``), with a note saying what was being done.
    """
    reap_dropped()
    argv = _argv(args)
    envp = _envp(env)
    executables = _executables(argv[0], env)
    if not isinstance(close_fds, bool):
        raise TypeError("close_fds must be a bool")
    fds = [int(fd) for fd in pass_fds]
    if any(fd < 0 for fd in fds):
        raise ValueError(f"pass_fds has a negative fd: {fds}")
    spec, opened = child_spec(
        "spawn", cgroup, ipc, mnt, net, pid, time, user, uts, hostname, domainname, uid_map,
        gid_map, map_root, setgroups, mount_proc, init, join, monotonic, boottime, pdeathsig,
    )  # fmt: skip
    try:
        stdio = _Stdio(stdin, stdout, stderr)
        try:
            child_pid, pidfd = _native.spawn(
                spec,
                argv,
                executables,
                envp,
                None if cwd is None else os.fsencode(cwd),
                tuple(stdio.child),
                fds,
                close_fds,
            )
        except BaseException:
            stdio.close_all()
            raise
        stdio.close_child_ends()
    finally:
        for ns in opened:
            ns.close()
    return Process(list(args), child_pid, pidfd, *stdio.parent)
