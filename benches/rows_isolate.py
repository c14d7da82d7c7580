"""Rows of the foundation: in-process round trips and switching into an existing netns."""

from __future__ import annotations

import ctypes
import os
import subprocess

from harness import Ctx, Row, cprog, subprocess_runs, timed

import pyns

_libc = ctypes.CDLL(None, use_errno=True)


def _ctypes_round_trip(flag: int, path: bytes):
    def op() -> None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        if _libc.unshare(flag) != 0 or _libc.setns(fd, flag) != 0:
            raise OSError(ctypes.get_errno(), "unshare/setns")
        os.close(fd)

    return op


def _named_netns(ctx: Ctx) -> str:
    name = f"pyns-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    ctx.stack.callback(subprocess.run, ["ip", "netns", "del", name], check=True)
    return name


def rows(ctx: Ctx) -> list[Row]:
    name = _named_netns(ctx)
    path = f"/run/netns/{name}"
    target = pyns.Namespace.open(path)
    ctx.stack.callback(target.close)
    tfd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    hfd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    ctx.stack.callback(os.close, tfd)
    ctx.stack.callback(os.close, hfd)

    def ctypes_switch() -> None:
        _libc.setns(tfd, pyns.CLONE_NEWNET)
        _libc.setns(hfd, pyns.CLONE_NEWNET)

    def pyns_uts() -> None:
        with pyns.isolate(uts=True):
            pass

    def pyns_net() -> None:
        with pyns.isolate(net=True, loopback=False):
            pass

    def pyns_switch() -> None:
        with target.enter():
            pass

    impls_switch = {
        "pyns": timed(pyns_switch),
        "C": cprog("isolate", "switch", path),
        "C (saving the current netns)": cprog("isolate", "switch-save", path),
        "ctypes": timed(ctypes_switch),
    }
    try:
        from pyroute2.netns import popns, pushns

        def pyroute2_switch() -> None:
            pushns(name)
            popns()

        impls_switch["pyroute2 pushns/popns"] = timed(pyroute2_switch)
    except ImportError:
        pass
    impls_switch["ip netns exec x true"] = subprocess_runs(["ip", "netns", "exec", name, "true"])
    impls_switch["nsenter --net=… true"] = subprocess_runs(["nsenter", f"--net={path}", "true"])
    uts = pyns.CLONE_NEWUTS
    net = pyns.CLONE_NEWNET
    return [
        Row(
            "in-process UTS round trip: unshare + setns back",
            {
                "pyns": timed(pyns_uts),
                "C": cprog("isolate", "uts"),
                "C (saving by /proc open)": cprog("isolate", "uts-proc"),
                "C (saved fd kept open)": cprog("isolate", "uts-kept"),
                "ctypes": timed(_ctypes_round_trip(uts, b"/proc/thread-self/ns/uts")),
            },
            base="C",
            target=1.2,
            batch=2000,
            note="pyns: `with isolate(uts=True)`; C: save by PIDFD_GET_UTS_NAMESPACE, unshare, "
            "setns back, close",
        ),
        Row(
            "in-process NET round trip (new netns each time)",
            {
                "pyns": timed(pyns_net),
                "C": cprog("isolate", "net"),
                "ctypes": timed(_ctypes_round_trip(net, b"/proc/thread-self/ns/net")),
            },
            base="C",
            target=1.15,
            batch=50,
            note="pyns: `with isolate(net=True, loopback=False)`",
        ),
        Row(
            "switch into an existing netns and back (fds open)",
            impls_switch,
            base="C",
            target=1.5,
            batch=2000,
            note="pyns: `with ns.enter()` on an open Namespace, which must save where the "
            "thread is (C saving the same way is the like-for-like); subprocess peers run `true`",
        ),
    ]
