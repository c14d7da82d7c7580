"""Namespace, Switch and Isolation shared between threads: a clear pyns error or a wait, never
PyO3's "Already borrowed", and never a call on a closed or reused fd."""

from __future__ import annotations

import os
import threading

import pytest

import pyns
from pyns import net

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@root_only
def test_close_while_another_thread_uses_the_handle(make_netns):
    ns = make_netns()
    started = threading.Event()
    errors: list[BaseException] = []
    calls = 0

    def user() -> None:
        nonlocal calls
        while True:
            try:
                net.links(netns=ns)
                calls += 1
            except ValueError as e:  # "... is closed": the only way out
                assert "closed" in str(e)
                return
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return
            finally:
                started.set()

    threads = [threading.Thread(target=user) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    ns.close()
    assert ns.closed
    for t in threads:
        t.join()
    assert errors == []


@root_only
def test_closed_handle_is_never_used_by_number(make_netns):
    ns = make_netns()
    ns.close()
    with pytest.raises(ValueError, match="closed"):
        ns.fileno()
    with pytest.raises(ValueError, match="closed"):
        pyns.setns(ns)
    # The number is free for anything now (e.g. /dev/null); the handle never uses it again.
    reused = os.open("/dev/null", os.O_RDONLY)
    try:
        with pytest.raises(ValueError, match="closed"):
            net.links(netns=ns)
    finally:
        os.close(reused)


def _in_thread(fn):
    out: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
            out.append(None)
        except BaseException as e:  # noqa: BLE001 - handed back
            out.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


@root_only
def test_a_switch_left_from_another_thread_stays_for_its_own():
    with pyns.isolate(uts=True, hostname="pyns-sw") as iso:
        target = iso.namespaces["uts"]
    mine = pyns.Namespace.current("uts")
    sw = target.enter()
    sw.__enter__()
    try:
        assert pyns.Namespace.current("uts") == target
        err = _in_thread(lambda: sw.__exit__(None, None, None))
        assert isinstance(err, pyns.NamespaceError), err
        assert "must be restored on that thread" in str(err)
        err = _in_thread(sw.__enter__)
        assert isinstance(err, pyns.NamespaceError) and "already entered" in str(err)
    finally:
        sw.__exit__(None, None, None)
    assert pyns.Namespace.current("uts") == mine
    target.close()
    mine.close()


@root_only
def test_an_isolation_left_from_another_thread_stays_for_its_own():
    mine = pyns.Namespace.current("uts")
    iso = pyns.isolate(uts=True)
    iso.__enter__()
    try:
        assert pyns.Namespace.current("uts") != mine
        err = _in_thread(lambda: iso.__exit__(None, None, None))
        assert isinstance(err, pyns.NamespaceError), err
        err = _in_thread(lambda: iso.namespaces)
        assert isinstance(err, pyns.NamespaceError) and "on its thread" in str(err)
        assert set(iso.namespaces) == {"uts"}
    finally:
        iso.__exit__(None, None, None)
    iso.namespaces["uts"].close()  # kept by the block after it: handles taken inside stay valid
    assert pyns.Namespace.current("uts") == mine
    mine.close()


@root_only
def test_many_threads_share_handles_switches_and_isolations(make_netns):
    ns = make_netns()
    iso = pyns.isolate(uts=True)
    sw = ns.enter()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                for shared in (iso, sw):
                    try:
                        with shared:
                            pass
                    except pyns.NamespaceError as e:
                        assert "already entered" in str(e)
                net.links(netns=ns)
                assert not ns.closed
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
