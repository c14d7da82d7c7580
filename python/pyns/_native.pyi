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
    ) -> ChildSpec: ...

def spawn(
    spec: ChildSpec,
    argv: Sequence[bytes],
    executables: Sequence[bytes],
    envp: Sequence[bytes],
    cwd: Optional[bytes],
    stdio: tuple[int, int, int],
    pass_fds: Sequence[int],
    close_fds: bool,
) -> tuple[int, int]: ...
def fork(spec: ChildSpec) -> Optional[tuple[int, int]]: ...
