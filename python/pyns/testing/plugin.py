"""The pytest plugin of pyns (entry point ``pytest11``), loaded by pytest automatically.

Fixtures:
    topology: a ``pyns.testing.Topology``, torn down after the test.
    netns: a fresh network namespace (``lo`` up) as a ``pyns.Namespace``, closed after the test.

Markers:
    requires_root: skip unless the process has CAP_SYS_ADMIN and CAP_NET_ADMIN (root).
    requires_userns: skip unless this user can create a user namespace.

Importing this module is cheap: pyns' native code is loaded by the fixtures and checks, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from .._native import Namespace
    from .topology import Topology

from ..machine import root_missing, userns_missing  # the same checks as `pyns doctor`

__all__ = ["root_missing", "userns_missing"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_root: skip unless running as root (CAP_SYS_ADMIN and CAP_NET_ADMIN), "
        "as namespaces and links outside a user namespace need",
    )
    config.addinivalue_line(
        "markers",
        "requires_userns: skip unless this user may create user namespaces (rootless pyns)",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("requires_root") is not None:
        reason = root_missing()
        if reason:
            pytest.skip(reason)
    if item.get_closest_marker("requires_userns") is not None:
        reason = userns_missing()
        if reason:
            pytest.skip(reason)


@pytest.fixture
def topology() -> Iterator[Topology]:
    """A ``pyns.testing.Topology`` for the test, torn down after it (also when it fails).
    Its hosts log what they spawn (``log=True``: ``host.logs()``)."""
    from .topology import Topology

    with Topology(log=True) as t:
        yield t


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A fresh network namespace with ``lo`` up, as a ``pyns.Namespace`` (use it as
    ``netns=`` of ``pyns.net`` functions, or ``with netns.enter():``); closed after the test."""
    from .. import _native

    ns, _, _ = _native.net_node(None, False, False)
    with ns:
        yield ns
