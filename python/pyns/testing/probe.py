"""Who reaches whom, as ``Topology`` methods (a mixin ``Topology`` inherits): ``ping``,
``reachability`` and ``assert_reachable``.

Everything runs in the calling thread, with no ``ping`` process: one raw ICMP socket (and one
raw ICMPv6 socket when there are IPv6 addresses) per source host, born inside the host's
network namespace (``pyns._native.net_socket``), sends an echo request to every address of
every destination; the replies are collected with one ``select`` until all pairs answered or
the timeout expired, and the requests of the pairs still silent are sent again every 200 ms.

Raw sockets rather than ICMP datagram ("ping") sockets: a new network namespace has
``net.ipv4.ping_group_range = 1 0``, so datagram ICMP sockets are refused there, and changing
the sysctl inside each host would change what the programs under test see. A raw socket
needs CAP_NET_RAW in the user namespace that owns the host's network namespace: root has it,
and so has the rootless owner of a user namespace that made the topology.
"""

from __future__ import annotations

import ipaddress
import math
import os
import select
import socket
import struct
import time
from typing import TYPE_CHECKING, Any, Mapping, Union

from .. import _native

if TYPE_CHECKING:
    from .nodes import Host, _Node

__all__ = ["Probes"]

#: How often the echo requests of pairs not answered yet are sent again.
RESEND_S = 0.2
#: The default wait for replies: longer than one ARP/ND retransmission (1 s), so that a pair
#: whose first neighbour request was lost still answers (on a just-built topology about one
#: in five first requests is: see NOTES), like iputils ping, which waits up to 10 s.
TIMEOUT_S = 2.0

ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 128, 129
#: type, code, checksum, identifier, sequence; then the payload: probe number and a cookie.
_ECHO = struct.Struct("!BBHHH")
_PAYLOAD = struct.Struct("!IQ")

Pair = tuple["Host", "Host"]


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _echo(version: int, probe: int, cookie: int) -> bytes:
    """An echo request numbered `probe` (its sequence number and payload) of `cookie`."""
    payload = _PAYLOAD.pack(probe, cookie)
    ident, seq = cookie & 0xFFFF, probe & 0xFFFF
    if version == 6:  # the kernel fills in the checksum of a raw ICMPv6 socket
        return _ECHO.pack(ICMP6_ECHO_REQUEST, 0, 0, ident, seq) + payload
    head = _ECHO.pack(ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    return _ECHO.pack(ICMP_ECHO_REQUEST, 0, _checksum(head + payload), ident, seq) + payload


def _reply(version: int, data: bytes, cookie: int) -> int:
    """The probe number that the echo reply `data` answers, or -1 if it is something else."""
    if version == 4:  # a raw IPv4 socket reads the IP header too
        data = data[(data[0] & 0x0F) * 4 :] if data else data
    if len(data) < _ECHO.size + _PAYLOAD.size:
        return -1
    kind, _, _, _, _ = _ECHO.unpack_from(data)
    probe, got = _PAYLOAD.unpack_from(data, _ECHO.size)
    wanted = ICMP_ECHO_REPLY if version == 4 else ICMP6_ECHO_REPLY
    return probe if kind == wanted and got == cookie else -1


def probe(pairs: list[Pair], timeout: float) -> list[bool]:
    """Whether each source reaches its destination: an echo reply from any of the
    destination's addresses within `timeout` seconds.

    Args:
        pairs: ``(source, destination)`` hosts.
        timeout: seconds at most to wait for replies.

    Returns:
        One bool per pair, in order.

    Raises:
        PermissionError: no CAP_NET_RAW in a source's network namespace.
    """
    cookie = int.from_bytes(os.urandom(8), "big")
    answered = [False] * len(pairs)
    # Every (pair, address) is a probe; its number travels in the request and comes back.
    probes: list[tuple[int, int, str]] = []  # (pair index, IP version, address)
    targets: dict[int, list[tuple[int, str]]] = {}  # id(host) -> its (version, address)
    for i, (_, dst) in enumerate(pairs):
        if id(dst) not in targets:
            ips = [ipaddress.ip_interface(a).ip for a in dst.addresses]
            targets[id(dst)] = [(ip.version, str(ip)) for ip in ips]
        probes += [(i, version, address) for version, address in targets[id(dst)]]
    sockets: dict[tuple[int, int], socket.socket] = {}  # (id(source), version) -> socket
    owner: dict[int, tuple[int, int]] = {}  # fd -> the socket's key
    try:
        for i, version, _ in probes:
            key = (id(pairs[i][0]), version)
            if key not in sockets:
                family, proto = (
                    (socket.AF_INET, socket.IPPROTO_ICMP)
                    if version == 4
                    else (socket.AF_INET6, socket.IPPROTO_ICMPV6)
                )
                fd = _native.net_socket(family, socket.SOCK_RAW, proto, netns=pairs[i][0].netns)
                s = sockets[key] = socket.socket(fileno=fd)
                s.setblocking(False)
                owner[s.fileno()] = key
        # poll(2), not select(2): a test process with a big topology has fds above 1023.
        poller = select.poll()
        for fd in owner:
            poller.register(fd, select.POLLIN)
        by_fd = {s.fileno(): s for s in sockets.values()}
        deadline = time.monotonic() + timeout
        while True:
            _send(probes, pairs, answered, sockets, cookie)
            resend = min(time.monotonic() + RESEND_S, deadline)
            while not all(answered) and (left := resend - time.monotonic()) > 0:
                for fd, _ in poller.poll(left * 1000):
                    _receive(by_fd[fd], owner[fd], probes, pairs, answered, cookie)
            if all(answered) or time.monotonic() >= deadline:
                return answered
    finally:
        for s in sockets.values():
            s.close()


def _send(
    probes: list[tuple[int, int, str]],
    pairs: list[Pair],
    answered: list[bool],
    sockets: dict[tuple[int, int], socket.socket],
    cookie: int,
) -> None:
    """Sends the echo requests of the pairs not answered yet. A send the kernel refuses at
    once (no route: ENETUNREACH, EHOSTUNREACH; a full buffer) counts as no answer."""
    for n, (i, version, address) in enumerate(probes):
        if not answered[i]:
            try:
                sockets[id(pairs[i][0]), version].sendto(_echo(version, n, cookie), (address, 0))
            except OSError:
                pass


def _receive(
    s: socket.socket,
    key: tuple[int, int],
    probes: list[tuple[int, int, str]],
    pairs: list[Pair],
    answered: list[bool],
    cookie: int,
) -> None:
    """Reads every datagram waiting on `s` and marks the pairs whose echo replies came."""
    while True:
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        n = _reply(key[1], data, cookie)
        if 0 <= n < len(probes):
            i = probes[n][0]
            if id(pairs[i][0]) == key[0]:  # the reply came to the source that asked
                answered[i] = True


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a number of seconds > 0, not {timeout!r}")
    return float(timeout)


def _word(reachable: bool) -> str:
    return "reachable" if reachable else "unreachable"


class Probes:
    """``ping``, ``reachability`` and ``assert_reachable``, for ``Topology``."""

    if TYPE_CHECKING:  # Topology's own

        @property
        def hosts(self) -> list[Host]: ...

        def _check_open(self) -> None: ...

        def _node(self, node: Union[str, _Node], what: str) -> _Node: ...

    def _host(self, node: Union[str, Host], what: str) -> Host:
        from .nodes import Host

        found = self._node(node, what)
        if not isinstance(found, Host):
            raise TypeError(f"{what} must be a host or router, not the switch {found.name!r}")
        return found

    def ping(self, a: Union[str, Host], b: Union[str, Host], *, timeout: float = TIMEOUT_S) -> bool:
        """Whether `a` reaches `b`: an ICMP echo reply from any of `b`'s addresses (IPv4 or
        IPv6) within `timeout` seconds, sent in-process from a raw socket inside `a`.

        Args:
            a, b: hosts or routers (or their names).
            timeout: seconds at most (the requests are repeated every 200 ms until then);
                an answer ends the wait at once.

        Returns:
            True if a reply came; False if none did (or `b` has no address).

        Raises:
            LookupError: no node of that name.
            TypeError: a switch, or a timeout that is not a number.
            ValueError: a host of another topology, a timeout <= 0, a closed topology.
            PermissionError: no CAP_NET_RAW in `a`'s network namespace.
        """
        timeout = _check_timeout(timeout)
        self._check_open()
        pair = (self._host(a, "a"), self._host(b, "b"))
        return probe([pair], timeout)[0]

    def reachability(self, *, timeout: float = TIMEOUT_S) -> dict[tuple[str, str], bool]:
        """Who reaches whom: ``ping`` of every ordered pair of distinct hosts (routers and
        switches left out), all at once.

        Args:
            timeout: seconds at most; pairs that did not answer by then are False (so an
                unreachable pair costs the whole timeout, reachable ones about a round trip).

        Returns:
            ``{(source name, destination name): reachable}``, in host order.

        Raises:
            PermissionError: no CAP_NET_RAW in a host's network namespace.
            ValueError: a timeout <= 0, or a closed topology.
        """
        timeout = _check_timeout(timeout)
        self._check_open()
        hosts = [h for h in self.hosts if not h.forwarding]
        pairs = [(a, b) for a in hosts for b in hosts if a is not b]
        return {(a.name, b.name): ok for (a, b), ok in zip(pairs, probe(pairs, timeout))}

    def assert_reachable(
        self, expected: Mapping[tuple[Any, Any], bool], *, timeout: float = TIMEOUT_S
    ) -> None:
        """Checks that the pairs in `expected` reach each other (True) or not (False), as
        ``ping`` sees it; the pairs are probed all at once.

        Args:
            expected: ``{(source, destination): reachable}`` with host names (or hosts), as
                ``reachability()`` returns; pairs left out are not checked.
            timeout: seconds at most to wait for replies.

        Raises:
            AssertionError: some pairs differ; the message is a table of them.
            LookupError: no host of that name.
            TypeError: a key that is not a pair, a value that is not a bool.
            PermissionError: no CAP_NET_RAW in a host's network namespace.
        """
        timeout = _check_timeout(timeout)
        self._check_open()
        if not isinstance(expected, Mapping):
            raise TypeError(f"expected must be a mapping, not {type(expected).__name__}")
        pairs: list[Pair] = []
        wanted: list[bool] = []
        for key, value in expected.items():
            if not isinstance(key, tuple) or len(key) != 2:
                raise TypeError(f"expected's keys must be (source, destination), not {key!r}")
            if not isinstance(value, bool):
                raise TypeError(f"expected[{key!r}] must be a bool, not {value!r}")
            pairs.append((self._host(key[0], "source"), self._host(key[1], "destination")))
            wanted.append(value)
        got = probe(pairs, timeout)
        wrong = [(p, w, g) for p, w, g in zip(pairs, wanted, got) if w != g]
        if wrong:
            rows = [("source", "destination", "expected", "actual")]
            rows += [(a.name, b.name, _word(w), _word(g)) for (a, b), w, g in wrong]
            widths = [max(len(r[c]) for r in rows) for c in range(4)]
            table = "\n".join(
                "  " + "  ".join(x.ljust(n) for x, n in zip(r, widths)).rstrip() for r in rows
            )
            raise AssertionError(
                f"{len(wrong)} of {len(pairs)} pairs differ from the expected reachability "
                f"(ICMP echo, {timeout:g} s):\n{table}"
            )
