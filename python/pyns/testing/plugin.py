"""The pytest plugin of pyns (entry point ``pytest11``), loaded by pytest automatically.

Fixtures:
    topology: a ``pyns.testing.Topology``, torn down after the test.
    netns: a fresh network namespace (``lo`` up) as a ``pyns.Namespace``, closed after the test.

Markers:
    requires_root: skip unless the process has CAP_SYS_ADMIN and CAP_NET_ADMIN (root).
    requires_userns: skip unless this user can create a user namespace.

When a test fails, each topology it used gets a report section titled ``pyns topology``
(``pyns.testing.report``): the ``topology`` fixture's, every ``Topology`` the test made that an
exception is leaving (``with Topology() as t:``) and every one it made and left open. Options:
``--pyns-keep`` keeps a failing test's topology alive and prints how to enter its nodes
(``--pyns-pause`` stops its programs meanwhile), until Enter or ``--pyns-keep-timeout``;
``--pyns-capture`` records every link of the ``topology`` fixture and lists the pcap files
of failing tests in the report.

Importing this module is cheap: pyns' native code is loaded by the fixtures and checks, not here.
"""

from __future__ import annotations

import contextlib
import os
import select
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import pytest

if TYPE_CHECKING:
    from .._native import Namespace
    from .topology import Topology

from ..machine import root_missing, userns_missing  # the same checks as `pyns doctor`

__all__ = ["root_missing", "userns_missing"]


@dataclass
class _State:
    """What the plugin knows about the running test."""

    #: The reports already made (of topologies an exception left), as section texts.
    sections: list[str] = field(default_factory=list)
    #: ids of the topologies reported (or that existed before the test).
    seen: set[int] = field(default_factory=set)
    #: The fixture's captures: what -> pcap path.
    captures: dict[str, str] = field(default_factory=dict)
    failed: bool = False


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pyns", "pyns topologies of failing tests")
    group.addoption(
        "--pyns-keep",
        action="store_true",
        help="keep the topology of a failing test alive, print how to enter its nodes from "
        "another shell, and wait for Enter (or --pyns-keep-timeout) before tearing it down",
    )
    group.addoption(
        "--pyns-pause",
        action="store_true",
        help="with --pyns-keep: stop the topology's programs (SIGSTOP) while it is kept; "
        "they continue before teardown",
    )
    group.addoption(
        "--pyns-keep-timeout",
        type=float,
        default=None,
        metavar="S",
        help="with --pyns-keep: tear down after S seconds at the latest (without a terminal, "
        "as in CI, only this counts; without it there is no wait)",
    )
    group.addoption(
        "--pyns-capture",
        action="store_true",
        help="capture every link of the topology fixture during each test; the report of a "
        "failing test lists the pcap files",
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if config.getoption("pyns_capture") and not _can_capture():
        terminalreporter.write_line(
            "pyns: --pyns-capture: this pyns has no Topology.capture, so no packets were "
            "captured (the failure reports were made all the same)"
        )


def _can_capture() -> bool:
    from .topology import Topology

    return hasattr(Topology, "capture")


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
    item.stash[_STATE] = _State()
    if item.get_closest_marker("requires_root") is not None:
        reason = root_missing()
        if reason:
            pytest.skip(reason)
    if item.get_closest_marker("requires_userns") is not None:
        reason = userns_missing()
        if reason:
            pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """While the test runs, a topology that an exception leaves is reported before it goes."""
    from . import registry

    state = item.stash.setdefault(_STATE, _State())
    state.seen |= {id(t) for t in registry.tracked()}

    def on_failure(t: Topology, exc: BaseException) -> None:
        quiet = (KeyboardInterrupt, SystemExit, pytest.skip.Exception, pytest.xfail.Exception)
        if isinstance(exc, quiet + (pytest.exit.Exception,)):
            return  # not a failure of the test
        state.seen.add(id(t))
        state.sections.append(_section(t, "a Topology of the test, left by an exception"))
        _keep(item, [t])

    registry.on_failure = on_failure
    try:
        yield
    finally:
        registry.on_failure = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    state = item.stash.get(_STATE, None)
    if state is None or rep.when != "call" or not rep.failed:
        return
    from . import registry

    state.failed = True
    texts = list(state.sections)
    live = []
    fixture = getattr(item, "funcargs", {}).get("topology")
    if fixture is not None and not fixture.closed:
        texts.insert(0, _section(fixture, "the topology fixture", state.captures))
        live.append(fixture)
    for t in registry.tracked():
        if id(t) not in state.seen and t is not fixture and not t.closed:
            texts.append(_section(t, "a Topology the test made and left open"))
            live.append(t)
    for text in texts:
        rep.sections.append(("pyns topology", text))
    _keep(item, live)


def _section(t: Topology, what: str, files: Optional[dict[str, str]] = None) -> str:
    from .report import report

    try:
        return f"{what}: " + report(t, files=files)
    except Exception as e:  # never hide the test's own failure behind the report's
        return f"{what}: no report ({type(e).__name__}: {e})\n"


def _keep(item: pytest.Item, topologies: list[Topology]) -> None:
    """--pyns-keep: prints how to enter each node, waits for Enter or the timeout."""
    config = item.config
    topologies = [t for t in topologies if not t.closed and t.hosts + t.switches]
    if not config.getoption("pyns_keep") or not topologies:
        return
    timeout: Optional[float] = config.getoption("pyns_keep_timeout")
    pause = config.getoption("pyns_pause")
    capman: Any = config.pluginmanager.getplugin("capturemanager")
    tr: Any = config.pluginmanager.getplugin("terminalreporter")
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        write = tr.write_line if tr else print
        write("")
        state = "paused (SIGSTOP)" if pause else "running"
        write(f"pyns: {item.nodeid} failed; its topology is kept alive, programs {state}.")
        write("Enter a node from another shell (as root, or as this user):")
        for t in topologies:
            for node in t.hosts + t.switches:
                write(f"  pyns topology exec {os.getpid()} {node.name} -- bash")
            if pause:
                for h in t.hosts:
                    h.pause()
        try:
            tty = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
        except OSError:
            tty = None
        if tty is None and timeout is None:
            write("pyns: no terminal and no --pyns-keep-timeout: tearing down now.")
        else:
            how = "press Enter" if tty is not None else "no terminal"
            when = f", tearing down in {timeout:g} s at the latest" if timeout is not None else ""
            write(f"pyns: {how} to tear it down{when}.")
            try:
                # poll(2): a big topology puts the tty's fd above select(2)'s 1023.
                poller = select.poll()
                if tty is not None:
                    poller.register(tty, select.POLLIN)
                poller.poll(None if timeout is None else timeout * 1000)
                if tty is not None:
                    os.read(tty, 4096)
            finally:
                if tty is not None:
                    os.close(tty)
        if pause:
            for t in topologies:
                for h in t.hosts:
                    h.resume()


@pytest.fixture
def topology(request: pytest.FixtureRequest) -> Iterator[Topology]:
    """A ``pyns.testing.Topology`` for the test, torn down after it (also when it fails).
    Its hosts log what they spawn (``log=True``: ``host.logs()``).

    With ``--pyns-capture``, every link made is captured (``t.capture``) while the test runs;
    the files of a failing test stay and its report lists them.
    """
    from .topology import Topology

    with Topology(log=True) as t, contextlib.ExitStack() as captures:
        if request.config.getoption("pyns_capture") and _can_capture():
            state = request.node.stash.setdefault(_STATE, _State())
            factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
            folder: Optional[Path] = None
            link = t.link

            def captured_link(*args: Any, **kwargs: Any) -> Any:
                nonlocal folder
                v = link(*args, **kwargs)
                if folder is None:
                    folder = factory.mktemp("pyns-capture")
                name = f"{v.a.name}-{v.names[0]}--{v.b.name}-{v.names[1]}.pcap"
                cap = captures.enter_context(t.capture(v, path=str(folder / name)))  # type: ignore[attr-defined]
                state.captures[f"capture {v.a.name} {v.names[0]} <-> {v.b.name} {v.names[1]}"] = str(cap.path)
                return v

            t.link = captured_link  # type: ignore[method-assign]
            yield t
            captures.close()
            if not state.failed:
                for path in state.captures.values():
                    with contextlib.suppress(OSError):
                        os.unlink(path)
        else:
            yield t


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A fresh network namespace with ``lo`` up, as a ``pyns.Namespace`` (use it as
    ``netns=`` of ``pyns.net`` functions, or ``with netns.enter():``); closed after the test."""
    from .. import _native

    ns, _, _ = _native.net_node(None, False, False)
    with ns:
        yield ns
