"""What every system test does with a host, as ``Host`` methods (a mixin ``Host`` inherits):
run a command and get its output (``exec``), wait until a server listens (``wait_port``) or a
condition holds (``wait_until``), and read the logs of what it spawned (``logs``).

``wait_port`` asks the host's own network namespace which sockets listen, by a
NETLINK_SOCK_DIAG dump (sock_diag(7), what ``ss -l`` reads) on a socket born in that
namespace: it never connects, so the server sees no probe connections and nothing waits on a
SYN. Waits back off from 1 ms to 50 ms between looks, so a long wait costs little CPU.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, TypeVar

from .. import _native
from ..process import Process, spawn as _spawn

if TYPE_CHECKING:
    from .._native import Namespace
    from .topology import Topology

__all__ = ["HostKit"]

T = TypeVar("T")

#: The first and the longest pause between two looks of ``wait_until``/``wait_port``.
FIRST_PAUSE_S = 0.001
LONGEST_PAUSE_S = 0.05

# sock_diag(7) and netlink(7) numbers (linux/sock_diag.h, linux/inet_diag.h, linux/netlink.h).
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_LISTEN = 10  # a listening TCP socket's state
TCP_CLOSE = 7  # an unconnected (bound) UDP socket's state, what `ss -lu` lists
#: nlmsghdr, then inet_diag_req_v2: family, protocol, ext, pad, states, sockid (48 bytes).
_REQUEST = struct.Struct("=IHHII BBBxI 48x")
_HEADER = struct.Struct("=IHHII")
PROTOCOLS = {
    "tcp": (socket.IPPROTO_TCP, 1 << TCP_LISTEN),
    "udp": (socket.IPPROTO_UDP, 1 << TCP_CLOSE),
}


def _check_timeout(timeout: object, what: str = "timeout") -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"{what} must be a number of seconds >= 0, not {timeout!r}")
    return float(timeout)


def _waits(timeout: float) -> Callable[[], bool]:
    """A pause for a polling loop: sleeps 1 ms, 2 ms, ... up to 50 ms (never past `timeout`
    seconds from now) and returns False once the time is up."""
    deadline = time.monotonic() + timeout
    pause = FIRST_PAUSE_S

    def wait() -> bool:
        nonlocal pause
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, LONGEST_PAUSE_S)
        return True

    return wait


def listening_ports(netns: Namespace, proto: str) -> set[int]:
    """The ports on which sockets of `proto` listen (TCP) or are bound unconnected (UDP) in
    `netns`, IPv4 and IPv6, by a NETLINK_SOCK_DIAG dump (sock_diag(7)) from a socket born there.

    Args:
        netns: the network namespace.
        proto: ``"tcp"`` or ``"udp"``.

    Returns:
        The local port numbers.

    Raises:
        OSError: the kernel refused the dump (ENOENT: no ``inet_diag`` for `proto`).
    """
    with _diag_socket(netns) as s:
        return _ports(s, proto)


def _diag_socket(netns: Namespace) -> socket.socket:
    """A NETLINK_SOCK_DIAG socket born in `netns`."""
    fd = _native.net_socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG, netns=netns)
    return socket.socket(fileno=fd)


def _ports(s: socket.socket, proto: str) -> set[int]:
    """The ports listened on (bound) in the namespace of the sock_diag socket `s`."""
    protocol, states = PROTOCOLS[proto]
    ports: set[int] = set()
    flags = NLM_F_REQUEST | NLM_F_DUMP
    for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), 1):
        header = (_REQUEST.size, SOCK_DIAG_BY_FAMILY, flags, seq, 0)
        s.send(_REQUEST.pack(*header, family, protocol, 0, states))
        ports.update(_dump_ports(s, seq, proto))
    return ports


def _dump_ports(s: socket.socket, seq: int, proto: str) -> set[int]:
    """Reads the answer to dump `seq`: the source port of every inet_diag_msg in it."""
    ports: set[int] = set()
    while True:
        data = s.recv(65536)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _, got, _ = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                return ports
            body = offset + _HEADER.size
            if got == seq:
                if kind == NLMSG_DONE:
                    return ports
                if kind == NLMSG_ERROR:
                    (errno,) = struct.unpack_from("=i", data, body)
                    if errno:
                        raise OSError(
                            -errno,
                            f"{os.strerror(-errno)}: sock_diag(7) dump of {proto} "
                            f"sockets (no {proto}_diag in this kernel? modprobe {proto}_diag)",
                        )
                    return ports
                if (
                    kind == SOCK_DIAG_BY_FAMILY
                ):  # inet_diag_msg: family, state, timer, retrans, sport
                    ports.add(struct.unpack_from("!H", data, body + 4)[0])
            offset += (length + 3) & ~3


class HostKit:
    """``exec``, ``wait_port``, ``wait_until``, ``logs`` and the logging of ``spawn(log=)``,
    for ``Host``."""

    name: str
    _topology: Topology
    #: The file names of its logs, oldest first.
    _log_names: tuple[str, ...] = ()

    if TYPE_CHECKING:  # Host's own

        @property
        def netns(self) -> Namespace: ...

        def spawn(self, args: Sequence[Any], **kwargs: Any) -> Process: ...

    # ------------------------------------------------------------------ exec

    def exec(
        self,
        args: Sequence[Any],
        *,
        check: bool = True,
        timeout: Optional[float] = 30,
        input: Any = None,
        text: bool = True,
        **spawn_kwargs: Any,
    ) -> subprocess.CompletedProcess[Any]:
        """Runs a program inside the host to its end and returns its output, like
        ``subprocess.run(args, capture_output=True, check=True, timeout=30, text=True)``.

        Args:
            args: the program and its arguments (no shell: ``["sh", "-c", "..."]`` for one).
            check: raise ``CalledProcessError`` if it exits with a status other than 0.
            timeout: seconds at most (None: no limit); then it is killed and reaped.
            input: what it reads on stdin (str in text mode, else bytes); with None its stdin
                is ``/dev/null`` (unless ``stdin=`` is given).
            text: stdout and stderr (and `input`) as str, decoded as subprocess does.
            **spawn_kwargs: as for :meth:`spawn` (``env=``, ``cwd=``, ``stdout=`` instead of
                capturing it, ...); its output is captured, not logged.

        Returns:
            A ``subprocess.CompletedProcess`` with ``args``, ``returncode``, ``stdout``,
            ``stderr``.

        Raises:
            subprocess.CalledProcessError: `check` and a status other than 0 (with the output).
            subprocess.TimeoutExpired: still running after `timeout` seconds (with the output
                so far); the program was killed and reaped.
            TypeError, ValueError: bad arguments, named, before anything is started.
            FileNotFoundError: the program does not exist.
        """
        if timeout is not None:
            timeout = _check_timeout(timeout)
        if not isinstance(check, bool):
            raise TypeError(f"check must be a bool, not {type(check).__name__}")
        if input is not None and "stdin" in spawn_kwargs:
            raise ValueError("stdin and input arguments may not both be used")
        spawn_kwargs.setdefault("stdin", subprocess.DEVNULL if input is None else subprocess.PIPE)
        spawn_kwargs.setdefault("stdout", subprocess.PIPE)
        spawn_kwargs.setdefault("stderr", subprocess.PIPE)
        spawn_kwargs["log"] = False
        proc = self.spawn(args, text=text, **spawn_kwargs)
        try:
            out, err = proc.communicate(input, timeout)
        except subprocess.TimeoutExpired as e:
            proc.kill()
            proc.wait()
            raise subprocess.TimeoutExpired(proc.args, e.timeout, e.output, e.stderr) from None
        except BaseException:  # Ctrl-C and the rest: never leave it running
            proc.kill()
            proc.wait()
            raise
        finally:
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f is not None:
                    f.close()
        status = proc.wait()  # reaped by communicate already
        if check and status:
            raise subprocess.CalledProcessError(status, proc.args, out, err)
        return subprocess.CompletedProcess(proc.args, status, out, err)

    # ------------------------------------------------------------------ waiting

    def wait_until(self, fn: Callable[[], T], *, timeout: float) -> T:
        """Calls `fn` until it returns something true, pausing between calls (1 ms, doubling
        up to 50 ms), and returns that.

        Args:
            fn: the condition (called in the caller's thread, not inside the host: use
                ``host.enter()`` or ``host.exec`` inside it for that).
            timeout: seconds at most.

        Returns:
            What `fn` returned.

        Raises:
            TimeoutError: `fn` was still false after `timeout` seconds (its last value named).
            Exception: what `fn` raised.
        """
        timeout = _check_timeout(timeout)
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        pause = _waits(timeout)
        while True:
            value = fn()
            if value:
                return value
            if not pause():
                raise TimeoutError(
                    f"{getattr(fn, '__qualname__', fn)!s} still returned {value!r} after "
                    f"{timeout:g} s (host {self.name!r})"
                )

    def wait_port(self, port: int, *, timeout: float, proto: str = "tcp") -> None:
        """Returns once something inside the host listens on `port` (TCP) or has bound it
        (UDP), on any address, IPv4 or IPv6.

        It reads the host's sockets from its own network namespace (sock_diag(7), as
        ``ss -l`` does) and never connects to the port.

        Args:
            port: the port, 1 to 65535.
            timeout: seconds at most.
            proto: ``"tcp"`` or ``"udp"``.

        Raises:
            TimeoutError: nothing listened on it after `timeout` seconds.
            TypeError, ValueError: a bad port, timeout or proto.
            OSError: the kernel refused the socket dump.
        """
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"port must be an int, not {type(port).__name__}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be between 1 and 65535, not {port}")
        if proto not in PROTOCOLS:
            raise ValueError(f"proto must be 'tcp' or 'udp', not {proto!r}")
        timeout = _check_timeout(timeout)
        self._topology._check_open()
        pause = _waits(timeout)
        with _diag_socket(self.netns) as s:
            while port not in _ports(s, proto):
                if not pause():
                    what = "listens on" if proto == "tcp" else "is bound to"
                    raise TimeoutError(
                        f"nothing {what} {proto} port {port} in host {self.name!r} after "
                        f"{timeout:g} s"
                    )

    # ------------------------------------------------------------------ logs

    def _log_directory(self) -> str:
        return os.path.join(self._topology.directory, self.name)

    def _start(
        self, args: Sequence[Any], join: Mapping[str, Any], kwargs: dict[str, Any]
    ) -> Process:
        """``pyns.spawn`` into the host; with ``log=True`` (default: the topology's ``log``)
        the streams of stdout and stderr not redirected go to
        ``<topology dir>/<host>/<pid>-<program>.log``."""
        log = kwargs.pop("log", None)
        if log is None:
            log = self._topology.log
        if not isinstance(log, bool):
            raise TypeError(f"log must be a bool, not {type(log).__name__}")
        free = [k for k in ("stdout", "stderr") if kwargs.get(k) is None]
        if not log or not free:
            return _spawn(args, join=join, **kwargs)
        directory = self._log_directory()
        os.makedirs(directory, exist_ok=True)
        fd, started = tempfile.mkstemp(prefix=".starting-", suffix=".log", dir=directory)
        try:
            with open(fd, "wb", buffering=0) as f:
                proc = _spawn(args, join=join, **{**kwargs, **{k: f for k in free}})
        except BaseException:
            os.unlink(started)
            raise
        program = os.path.basename(os.fsdecode(proc.args[0])) or "program"
        name = f"{proc.pid}-{program}.log"
        os.rename(started, os.path.join(directory, name))
        self._log_names = (*self._log_names, name)
        return proc

    def logs(self) -> dict[str, str]:
        """The logs of the programs spawned in the host with ``log=True``, by file name
        (``"1234-python3.log"``: pid and program), oldest first: each program's stdout and
        stderr as written so far (bytes that are not UTF-8 replaced).

        They live in ``<topology dir>/<host>/`` until the topology is closed.

        Returns:
            ``{file name: text}``; empty when nothing was logged.
        """
        if self._topology.closed:
            return {}
        logs = {}
        for name in self._log_names:
            path = os.path.join(self._log_directory(), name)
            with open(path, encoding="utf-8", errors="replace") as f:
                logs[name] = f.read()
        return logs
