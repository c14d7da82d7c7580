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

import os
from typing import TYPE_CHECKING, Iterator, Optional

import pytest

if TYPE_CHECKING:
    from .._native import Namespace
    from .topology import Topology

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21

_userns_reason: Optional[str] = None
_userns_checked = False


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


def _effective_caps() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def root_missing() -> Optional[str]:
    """Why the ``requires_root`` marker skips, or None when the process has what it needs.

    Returns:
        The reason (what is missing and how to get it), or None.
    """
    caps = _effective_caps()
    missing = [n for n, bit in (("CAP_SYS_ADMIN", CAP_SYS_ADMIN), ("CAP_NET_ADMIN", CAP_NET_ADMIN))
               if not caps >> bit & 1]  # fmt: skip
    if not missing:
        return None
    return (
        f"needs root: this process (uid {os.geteuid()}) lacks {' and '.join(missing)}; run the "
        "tests as root (sudo), or build the topology inside a user namespace with "
        "pyns.run(fn, user=True, map_root=True, net=True, uts=True) and mark the test "
        "requires_userns"
    )


def _read_int(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def userns_missing() -> Optional[str]:
    """Why the ``requires_userns`` marker skips, or None when user namespaces can be made.

    Checks the sysctls that switch them off, then makes one (in a child) to be sure.

    Returns:
        The reason (what is missing and how to enable it), or None.
    """
    global _userns_checked, _userns_reason
    if _userns_checked:
        return _userns_reason
    reason = None
    if _read_int("/proc/sys/user/max_user_namespaces") == 0:
        reason = (
            "user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0; enable "
            "them with `sysctl -w user.max_user_namespaces=15000`"
        )
    elif os.geteuid() != 0 and _read_int("/proc/sys/kernel/unprivileged_userns_clone") == 0:
        reason = (
            "unprivileged user namespaces are disabled: kernel.unprivileged_userns_clone is 0; "
            "enable them with `sysctl -w kernel.unprivileged_userns_clone=1`"
        )
    elif (
        os.geteuid() != 0
        and _read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1
    ):
        reason = (
            "AppArmor restricts unprivileged user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns is 1); allow them with "
            "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile"
        )
    else:
        import pyns

        try:
            pyns.spawn(["true"], user=True).wait()
        except OSError as e:
            reason = f"cannot create a user namespace here: {e}"
    _userns_reason, _userns_checked = reason, True
    return reason


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
    """A ``pyns.testing.Topology`` for the test, torn down after it (also when it fails)."""
    from .topology import Topology

    with Topology() as t:
        yield t


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A fresh network namespace with ``lo`` up, as a ``pyns.Namespace`` (use it as
    ``netns=`` of ``pyns.net`` functions, or ``with netns.enter():``); closed after the test."""
    from .. import _native

    ns, _, _ = _native.net_node(None, False, False)
    with ns:
        yield ns
