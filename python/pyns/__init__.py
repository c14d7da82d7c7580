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
from .errors import ChildError, NamespaceError, NotANamespaceError, UnsupportedError
from .join import enter, namespaces
from .call import run
from .child import ChildOptions
from .process import Process, spawn
from .machine import doctor

isolate = Isolation


__all__ = [
    "__version__",
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
    "NotANamespaceError",
    "Process",
    "Switch",
    "UnsupportedError",
    "aio",
    "capabilities",
    "doctor",
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


def __getattr__(name: str) -> Any:
    """What is loaded on first use: ``pyns.aio`` (asyncio is not light) and
    ``pyns.__version__`` (read from the installed metadata: importing importlib.metadata costs
    more than the rest of pyns)."""
    if name == "aio":
        import importlib

        return importlib.import_module("pyns.aio")
    if name != "__version__":
        raise AttributeError(f"module 'pyns' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("pyns")
    except PackageNotFoundError:  # a source tree, not installed
        value = "0+unknown"
    globals()["__version__"] = value
    return value
