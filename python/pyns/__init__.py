"""pyns: Linux namespaces for Python, with a Rust core.

with pyns.isolate(uts=True, hostname="box"):
    ...  # this thread has its own hostname
"""

from __future__ import annotations

from typing import Any

from ._native import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    KINDS,
    Capabilities,
    IdMap,
    Isolation,
    Namespace,
    Switch,
    capabilities,
    setns,
    unshare,
)
from . import mount, net, netns
from .errors import ChildError, NamespaceError, UnsupportedError
from .join import enter, namespaces
from .call import run
from .child import ChildOptions
from .process import Process, spawn

isolate = Isolation


def __getattr__(name: str) -> Any:
    if name == "aio":  # imported on first use: asyncio is not light
        import importlib

        return importlib.import_module("pyns.aio")
    raise AttributeError(f"module 'pyns' has no attribute {name!r}")


__all__ = [
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWTIME",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "KINDS",
    "Capabilities",
    "ChildError",
    "ChildOptions",
    "IdMap",
    "Isolation",
    "Namespace",
    "NamespaceError",
    "Process",
    "Switch",
    "UnsupportedError",
    "aio",
    "capabilities",
    "enter",
    "isolate",
    "mount",
    "namespaces",
    "net",
    "netns",
    "run",
    "setns",
    "spawn",
    "unshare",
]
