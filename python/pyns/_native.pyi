import os
from types import TracebackType
from typing import Any, Final, Optional, Union, final

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
    "net_link",
    "net_links",
    "net_veth",
    "net_bridge",
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

# pyns.net / pyns.netns natives (python/pyns/net.py, netns.py wrap them).
_Netns = Any
_LinkTuple = tuple[str, int, Optional[str], Optional[str], int, bool, Optional[str]]
_AddrTuple = tuple[str, int, str, str, int, str]
_RouteTuple = tuple[str, Optional[str], Optional[str], Optional[int], str, str, str, str]

def net_link(name: str, netns: _Netns = None) -> _LinkTuple: ...
def net_links(netns: _Netns = None) -> list[_LinkTuple]: ...
def net_veth(
    name: str, peer: str, peer_netns: _Netns = None, netns: _Netns = None
) -> tuple[_LinkTuple, _LinkTuple]: ...
def net_bridge(name: str, netns: _Netns = None) -> _LinkTuple: ...
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
def net_addrs(name: Optional[str] = None, netns: _Netns = None) -> list[_AddrTuple]: ...
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
def net_routes(netns: _Netns = None) -> list[_RouteTuple]: ...
def net_loopback_up(netns: _Netns = None) -> None: ...
def netns_add(name: str) -> Namespace: ...
def netns_remove(name: str) -> None: ...
def netns_path(name: str) -> str: ...
