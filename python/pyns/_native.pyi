import builtins
import ipaddress
import os
from types import TracebackType
from typing import Any, Final, Iterable, Optional, Sequence, Union, final

__all__ = [
    "KINDS",
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNS",
    "CLONE_NEWNET",
    "CLONE_NEWPID",
    "CLONE_NEWTIME",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "Namespace",
    "Switch",
    "Isolation",
    "unshare",
    "setns",
    "IdMap",
    "Capabilities",
    "capabilities",
    "ChildSpec",
    "spawn",
    "fork",
    "MountInfo",
    "mount_set_propagation",
    "mount_propagation",
    "mount_proc",
    "mount_bind",
    "mount_tmpfs",
    "mount_umount",
    "mount_table",
    "mount_parse",
    "Link",
    "Addr",
    "Route",
    "net_link",
    "net_links",
    "net_veth",
    "net_bridge",
    "net_vlan",
    "net_set_link",
    "net_delete_link",
    "net_add_addr",
    "net_del_addr",
    "net_addrs",
    "net_add_route",
    "net_del_route",
    "net_routes",
    "net_loopback_up",
    "netns_add",
    "netns_remove",
    "netns_path",
    "resolve_namespace",
    "NETNS_DIR",
    "net_shape",
    "net_shape_check",
    "net_unshape",
    "net_qdiscs",
    "net_blackhole",
    "net_bpf_loss",
    "net_rule",
    "net_move_local_rule",
    "net_socket",
    "net_node",
    "net_node_uts",
    "netns_persist",
    "net_wire",
    "netns_exec_mnt",
    "PacketCapture",
    "capture_start",
]

KINDS: Final[tuple[str, ...]]
CLONE_NEWCGROUP: Final[int]
CLONE_NEWIPC: Final[int]
CLONE_NEWNET: Final[int]
CLONE_NEWNS: Final[int]
CLONE_NEWPID: Final[int]
CLONE_NEWTIME: Final[int]
CLONE_NEWUSER: Final[int]
CLONE_NEWUTS: Final[int]

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

@final
class Namespace:
    @staticmethod
    def current(kind: str) -> Namespace: ...
    @staticmethod
    def of(pid: int, kind: str) -> Namespace: ...
    @staticmethod
    def open(path: _Path, kind: Optional[str] = None) -> Namespace: ...
    @property
    def kind(self) -> str: ...
    @property
    def inode(self) -> int: ...
    @property
    def dev(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Namespace: ...
    def __exit__(self, ty: Any, value: Any, tb: Any) -> bool: ...
    def owner(self) -> Namespace: ...
    def parent(self) -> Namespace: ...
    def persist(self, path: _Path) -> None: ...
    def enter(self) -> Switch: ...
    def _repr_html_(self) -> str: ...
    def __hash__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...

@final
class Switch:
    def __new__(cls, targets: list[Namespace]) -> Switch: ...
    def __enter__(self) -> Switch: ...
    def __exit__(self, ty: Any, value: Any, tb: Any) -> bool: ...
    @property
    def targets(self) -> list[Namespace]: ...

@final
class Isolation:
    def __new__(
        cls,
        *,
        uts: bool = False,
        ipc: bool = False,
        net: bool = False,
        mnt: bool = False,
        cgroup: bool = False,
        pid: bool = False,
        time: bool = False,
        user: bool = False,
        hostname: Optional[str] = None,
        domainname: Optional[str] = None,
        loopback: bool = True,
        propagation: Optional[str] = "private",
    ) -> Isolation: ...
    def __enter__(self) -> Isolation: ...
    def __exit__(
        self,
        ty: Optional[type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    @property
    def namespaces(self) -> dict[str, Namespace]: ...

def unshare(flags: int) -> None: ...
def setns(ns_or_fd: Union[Namespace, int], kind: Union[str, int, None] = None) -> None: ...

_MapLike = Union[str, Iterable[tuple[int, int, int]], "IdMap"]

@final
class IdMap:
    def __new__(cls, map: _MapLike) -> IdMap: ...
    @property
    def ranges(self) -> list[tuple[int, int, int]]: ...
    def write(self, pid: int, file: str) -> None: ...
    def __len__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Capabilities:
    @property
    def effective(self) -> frozenset[str]: ...
    @property
    def permitted(self) -> frozenset[str]: ...
    @property
    def inheritable(self) -> frozenset[str]: ...
    @property
    def bounding(self) -> frozenset[str]: ...
    @property
    def ambient(self) -> frozenset[str]: ...
    def _repr_html_(self) -> str: ...

def capabilities(pid: Optional[int] = None) -> Capabilities: ...
@final
class ChildSpec:
    def __new__(
        cls,
        *,
        new: Sequence[str] = ...,
        join: Sequence[Namespace] = ...,
        hostname: Optional[str] = None,
        domainname: Optional[str] = None,
        uid_map: Optional[_MapLike] = None,
        gid_map: Optional[_MapLike] = None,
        setgroups: str = "deny",
        mount_proc: bool = False,
        init: bool = True,
        monotonic_ns: Optional[int] = None,
        boottime_ns: Optional[int] = None,
        pdeathsig: int = 9,
        loopback: bool = True,
        umask: Optional[int] = None,
        new_session: bool = False,
        process_group: Optional[int] = None,
        groups: Optional[Sequence[int]] = None,
        gid: Optional[int] = None,
        uid: Optional[int] = None,
    ) -> ChildSpec: ...

def spawn(
    started: list[tuple[int, int]],
    spec: ChildSpec,
    argv: Sequence[bytes],
    executables: Sequence[bytes],
    envp: Sequence[bytes],
    cwd: Optional[bytes],
    stdio: tuple[int, int, int],
    pass_fds: Sequence[int],
    close_fds: bool,
) -> None: ...
def fork(started: list[tuple[int, int, int]], spec: ChildSpec) -> None: ...
@final
class MountInfo:
    @property
    def mount_id(self) -> int: ...
    @property
    def parent_id(self) -> int: ...
    @property
    def major(self) -> int: ...
    @property
    def minor(self) -> int: ...
    @property
    def root(self) -> str: ...
    @property
    def mount_point(self) -> str: ...
    @property
    def options(self) -> tuple[str, ...]: ...
    @property
    def propagation(self) -> str: ...
    @property
    def peer_group(self) -> Optional[int]: ...
    @property
    def master(self) -> Optional[int]: ...
    @property
    def propagate_from(self) -> Optional[int]: ...
    @property
    def unbindable(self) -> bool: ...
    @property
    def fstype(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def super_options(self) -> tuple[str, ...]: ...

def mount_set_propagation(path: _Path, propagation: str, recursive: bool) -> None: ...
def mount_propagation(path: _Path) -> str: ...
def mount_proc(target: _Path) -> None: ...
def mount_bind(src: _Path, dst: _Path, readonly: bool, recursive: bool) -> None: ...
def mount_tmpfs(
    target: _Path, size: Optional[str] = None, mode: Optional[int] = None
) -> None: ...
def mount_umount(target: _Path, lazy: bool) -> None: ...
def mount_table(pid: Optional[int] = None) -> list[MountInfo]: ...
def mount_parse(text: bytes) -> list[MountInfo]: ...

# pyns.net / pyns.netns natives (python/pyns/net.py, netns.py wrap them).
_Netns = Any

@final
class Link:
    def __new__(
        cls,
        name: str,
        index: int,
        kind: Optional[str],
        mac: Optional[str],
        mtu: int,
        up: bool,
        master: Optional[str],
    ) -> Link: ...
    @property
    def name(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def kind(self) -> Optional[str]: ...
    @property
    def mac(self) -> Optional[str]: ...
    @property
    def mtu(self) -> int: ...
    @property
    def up(self) -> bool: ...
    @property
    def master(self) -> Optional[str]: ...
    def __reduce__(self) -> tuple[type[Link], tuple[Any, ...]]: ...
    def __hash__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...

@final
class Addr:
    def __new__(
        cls, link: str, index: int, family: str, address: str, prefixlen: int, scope: str
    ) -> Addr: ...
    @property
    def link(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def family(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def prefixlen(self) -> int: ...
    @property
    def scope(self) -> str: ...
    @property
    def cidr(self) -> str: ...
    @property
    def interface(self) -> Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]: ...
    def __reduce__(self) -> tuple[type[Addr], tuple[Any, ...]]: ...
    def __hash__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...

@final
class Route:
    def __new__(
        cls,
        dst: str,
        via: Optional[str],
        dev: Optional[str],
        metric: Optional[int],
        family: str,
        protocol: str,
        scope: str,
        type: str,
        src: Optional[str] = None,
    ) -> Route: ...
    @property
    def dst(self) -> str: ...
    @property
    def via(self) -> Optional[str]: ...
    @property
    def dev(self) -> Optional[str]: ...
    @property
    def metric(self) -> Optional[int]: ...
    @property
    def family(self) -> str: ...
    @property
    def protocol(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def src(self) -> Optional[str]: ...
    def __reduce__(self) -> tuple[builtins.type[Route], tuple[Any, ...]]: ...
    def __hash__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...

def net_link(name: str, netns: _Netns = None) -> Link: ...
def net_links(netns: _Netns = None) -> list[Link]: ...
def net_veth(
    name: str, peer: str, peer_netns: _Netns = None, netns: _Netns = None
) -> tuple[Link, Link]: ...
def net_bridge(name: str, netns: _Netns = None) -> Link: ...
def net_vlan(name: str, link: str, vid: int, netns: _Netns = None) -> Link: ...
def net_set_link(
    name: str,
    netns: _Netns = None,
    up: Optional[bool] = None,
    mtu: Optional[int] = None,
    mac: Optional[str] = None,
    master: Optional[str] = None,
    nomaster: bool = False,
    move_to: _Netns = None,
    rename: Optional[str] = None,
) -> None: ...
def net_delete_link(name: str, netns: _Netns = None) -> None: ...
def net_add_addr(name: str, cidr: str, netns: _Netns = None) -> None: ...
def net_del_addr(name: str, cidr: str, netns: _Netns = None) -> None: ...
def net_addrs(name: Optional[str] = None, netns: _Netns = None) -> list[Addr]: ...
def net_add_route(
    dst: str,
    via: Optional[str] = None,
    dev: Optional[str] = None,
    metric: Optional[int] = None,
    netns: _Netns = None,
) -> None: ...
def net_del_route(
    dst: str,
    via: Optional[str] = None,
    dev: Optional[str] = None,
    metric: Optional[int] = None,
    netns: _Netns = None,
) -> None: ...
def net_routes(netns: _Netns = None) -> list[Route]: ...
def net_loopback_up(netns: _Netns = None) -> None: ...
def netns_add(name: str) -> Namespace: ...
def netns_remove(name: str) -> None: ...
def netns_path(name: str) -> str: ...
def net_shape(
    name: str,
    netns: _Netns = None,
    delay_ms: Optional[float] = None,
    jitter_ms: Optional[float] = None,
    loss_pct: Optional[float] = None,
    rate_mbit: Optional[float] = None,
    distribution: Optional[str] = None,
    loss_correlation_pct: Optional[float] = None,
    duplicate_pct: Optional[float] = None,
    reorder_pct: Optional[float] = None,
    corrupt_pct: Optional[float] = None,
    limit: Optional[int] = None,
) -> None: ...
def net_shape_check(
    delay_ms: Optional[float] = None,
    jitter_ms: Optional[float] = None,
    loss_pct: Optional[float] = None,
    rate_mbit: Optional[float] = None,
    distribution: Optional[str] = None,
    loss_correlation_pct: Optional[float] = None,
    duplicate_pct: Optional[float] = None,
    reorder_pct: Optional[float] = None,
    corrupt_pct: Optional[float] = None,
    limit: Optional[int] = None,
) -> None: ...
def net_unshape(name: str, netns: _Netns = None) -> None: ...
def net_qdiscs(netns: _Netns = None) -> list[tuple[str, str, int, int, int, int]]: ...
def net_blackhole(name: str, netns: _Netns = None) -> None: ...
def net_bpf_loss(name: str, loss_pct: Optional[float], netns: _Netns = None) -> None: ...
def net_rule(
    add: bool,
    version: int,
    src: Optional[str],
    dst: Optional[str],
    priority: int,
    table: Optional[int] = None,
    netns: _Netns = None,
) -> None: ...
def net_move_local_rule(version: int, priority: int, netns: _Netns = None) -> None: ...
def net_socket(family: int, type: int, proto: int = 0, netns: _Netns = None) -> int: ...
def net_node(
    hostname: Optional[str] = None,
    mnt: bool = False,
    forwarding: bool = False,
    mounts: Optional[list[tuple[Any, ...]]] = None,
) -> tuple[Namespace, Optional[Namespace], Optional[Namespace]]: ...
def net_node_uts(hostname: str) -> Namespace: ...
def netns_persist(ns: Namespace, name: str) -> None: ...
def net_wire(
    name: str,
    peer: str,
    netns: _Netns,
    peer_netns: _Netns,
    cidr: Optional[str] = None,
    peer_cidr: Optional[str] = None,
    mtu: Optional[int] = None,
    master: Optional[str] = None,
    cidr6: Optional[str] = None,
    peer_cidr6: Optional[str] = None,
) -> None: ...
def netns_exec_mnt(net: Namespace, name: str) -> tuple[Namespace, list[str]]: ...
def resolve_namespace(
    target: Any, kind: Optional[str] = None, what: str = "target"
) -> tuple[Namespace, bool]: ...

NETNS_DIR: Final[str]

# packet capture (src/py/capture.rs)
@final
class PacketCapture:
    def stop(self) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def interface(self) -> Optional[str]: ...
    @property
    def running(self) -> bool: ...
    @property
    def captured(self) -> int: ...
    @property
    def dropped(self) -> int: ...

def capture_start(
    path: Union[str, os.PathLike[str]], netns: _Netns = None, interface: Optional[str] = None
) -> PacketCapture: ...
