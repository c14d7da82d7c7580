"""netem measured for real: delay, jitter and loss set by pyns.net.shape on the two ends of a
veth between two namespaces, observed with UDP traffic. Where the kernel has no sch_netem (this
project's development machine) the tests skip with the kernel's reason; the kernel lane
(tests/kernels/run.sh) runs them on Debian's 6.1, which has it.
"""

from __future__ import annotations

import math
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Callable

import pytest

import pyns
from pyns import net

pytestmark = pytest.mark.kernel

#: What a shaped round trip may grow by, as a ratio of the delay asked for both ways: the low
#: end allows for timer slack, the high end for a slow emulated machine (QEMU without KVM).
DELAY_RATIO = (0.9, 1.5)
DELAY_MS = 20.0
#: socket(7); Python names it only from 3.12 on.
SO_RCVBUFFORCE = 33


@pytest.fixture
def pair(make_netns: Callable[[], pyns.Namespace]) -> Iterator[tuple[pyns.Namespace, ...]]:
    """Two namespaces joined by a veth: 10.9.0.1 on `a0` in the first, 10.9.0.2 on `b0`."""
    a, b = make_netns(), make_netns()
    net.veth("a0", "b0", netns=a, peer_netns=b)
    for ns, link, cidr in ((a, "a0", "10.9.0.1/24"), (b, "b0", "10.9.0.2/24")):
        net.add_addr(link, cidr, netns=ns)
        net.set_link(link, up=True, netns=ns)
    yield a, b


def shape_or_skip(link: str, ns: pyns.Namespace, **kw: object) -> None:
    try:
        net.shape(link, netns=ns, **kw)
    except pyns.UnsupportedError as e:
        pytest.skip(f"sch_netem not available on this kernel: {e}")


def udp(ns: pyns.Namespace, addr: str) -> socket.socket:
    with ns.enter():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)  # root: past rmem_max
        s.bind((addr, 0))
    except BaseException:
        s.close()
        raise
    return s


def round_trips(pair: tuple[pyns.Namespace, ...], n: int) -> list[float]:
    """`n` UDP round trips from the first namespace to an echo in the second, in seconds."""
    a, b = pair
    with udp(b, "10.9.0.2") as srv, udp(a, "10.9.0.1") as cli:
        stop = threading.Event()

        def echo() -> None:
            srv.settimeout(0.1)
            while not stop.is_set():
                try:
                    data, peer = srv.recvfrom(64)
                except socket.timeout:
                    continue
                srv.sendto(data, peer)

        th = threading.Thread(target=echo)
        th.start()
        cli.settimeout(5)
        out = []
        try:
            for i in range(n):
                t0 = time.perf_counter()
                cli.sendto(b"%d" % i, srv.getsockname())
                cli.recvfrom(64)
                out.append(time.perf_counter() - t0)
        finally:
            stop.set()
            th.join()
    return out


def test_delay_grows_the_round_trip_by_twice_the_delay(pair) -> None:
    a, b = pair
    # The fastest of several round trips: a busy machine only ever adds to a round trip.
    base = min(round_trips(pair, 20))
    shape_or_skip("a0", a, delay_ms=DELAY_MS)
    shape_or_skip("b0", b, delay_ms=DELAY_MS)
    shaped = min(round_trips(pair, 15))
    ratio = (shaped - base) / (2 * DELAY_MS / 1000)
    assert DELAY_RATIO[0] < ratio < DELAY_RATIO[1], (base, shaped, ratio)
    net.unshape("a0", netns=a)
    net.unshape("b0", netns=b)
    after = min(round_trips(pair, 20))
    assert after - base < 0.5 * DELAY_MS / 1000, (base, after)


def test_jitter_spreads_the_round_trips(pair) -> None:
    a, _ = pair
    base = min(round_trips(pair, 20))
    shape_or_skip("a0", a, delay_ms=DELAY_MS, jitter_ms=10)
    extra = sorted(t - base for t in round_trips(pair, 40))
    # One shaped direction, delay uniform in 20 +- 10 ms: the extra time is at least 10 ms, and
    # the fastest of 40 comes close to it (a busy machine only adds); the 10th and 90th
    # percentiles (12 and 28 ms expected) lie far apart, against ~0 without jitter.
    assert DELAY_RATIO[0] < extra[0] / 0.010 < DELAY_RATIO[1], extra
    deciles = statistics.quantiles(extra, n=10)
    assert deciles[-1] - deciles[0] > 0.008, extra


def test_loss_drops_the_asked_share_within_binomial_bounds(pair) -> None:
    a, b = pair
    round_trips(pair, 1)  # ARP resolved before any loss: 30 % of the datagrams, not of the queries
    shape_or_skip("a0", a, loss_pct=30)
    sent = 1000
    with udp(b, "10.9.0.2") as srv, udp(a, "10.9.0.1") as cli:
        for i in range(sent):
            cli.sendto(b"%d" % i, srv.getsockname())
        srv.settimeout(0.5)
        got = 0
        try:
            while True:
                srv.recvfrom(64)
                got += 1
        except socket.timeout:
            pass
    # Each datagram survives with p = 0.7: within 5 standard deviations of n*p (a false alarm
    # once in ~3.5 million runs).
    p = 0.7
    sd = math.sqrt(sent * p * (1 - p))
    assert abs(got - sent * p) < 5 * sd, (got, sent)


def _burst(pair: tuple[pyns.Namespace, ...], sent: int) -> list[int]:
    """`sent` numbered datagrams from the first namespace to the second, in one burst; the
    numbers in the order they arrived (until 0.5 s of silence)."""
    a, b = pair
    with udp(b, "10.9.0.2") as srv, udp(a, "10.9.0.1") as cli:
        for i in range(sent):
            cli.sendto(b"%d" % i, srv.getsockname())
        srv.settimeout(0.5)
        got = []
        try:
            while True:
                got.append(int(srv.recvfrom(64)[0]))
        except socket.timeout:
            pass
    return got


def test_duplicate_sends_the_asked_share_twice(pair) -> None:
    a, _ = pair
    round_trips(pair, 1)  # neighbours known
    shape_or_skip("a0", a, duplicate_pct=30)
    sent = 1000
    got = _burst(pair, sent)
    assert set(got) == set(range(sent)), "nothing lost"
    dups = len(got) - sent
    p = 0.3  # Binomial(1000, 0.3): 300 +- 5 sd
    assert abs(dups - sent * p) < 5 * math.sqrt(sent * p * (1 - p)), dups


def test_reorder_sends_some_packets_ahead_of_the_delayed_ones(pair) -> None:
    a, _ = pair
    round_trips(pair, 1)
    shape_or_skip("a0", a, delay_ms=200)  # delay alone keeps the order
    got = _burst(pair, 100)
    assert got == list(range(100))
    shape_or_skip("a0", a, delay_ms=200, reorder_pct=50)
    got = _burst(pair, 100)
    assert sorted(got) == list(range(100))
    # A packet sent at once arrives before every earlier one still delayed (200 ms is far
    # longer than the burst): count those that overtook an earlier number.
    ahead = sum(1 for i, n in enumerate(got) if any(m < n for m in got[i + 1 :]))
    assert ahead >= 20, got  # ~50 expected (Binomial(100, 0.5), sd 5)


def test_normal_distribution_table_is_sent_and_has_tails(pair) -> None:
    a, _ = pair
    base = min(round_trips(pair, 20))
    delay, jitter = 0.030, 0.015
    shape_or_skip("a0", a, delay_ms=delay * 1000, jitter_ms=jitter * 1000, distribution="normal")
    extra = sorted(t - base for t in round_trips(pair, 60))
    # Uniform jitter never goes below delay - jitter (15 ms); the normal table has sd = jitter,
    # so 13.6 % of the delays fall below 0.9 * 15 ms (z < -1.1): among 60, one at least but
    # once in ~7,000 runs. A busy machine only adds time, so these bounds hold under load.
    assert extra[0] < 0.9 * (delay - jitter), extra
    assert statistics.median(extra) > 0.5 * delay, extra


def test_every_knob_reaches_the_kernel_as_tc_shows_it(pair) -> None:
    import subprocess

    a, _ = pair
    shape_or_skip("a0", a, delay_ms=20, jitter_ms=5, distribution="pareto", loss_pct=10,
                  loss_correlation_pct=25, duplicate_pct=5, reorder_pct=10, corrupt_pct=1,
                  limit=500)  # fmt: skip
    with a.enter():
        out = subprocess.run(["tc", "qdisc", "show", "dev", "a0"], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    for part in ("netem", "limit 500", "delay 20ms  5ms", "loss 10% 25%", "duplicate 5%",
                 "reorder 10%", "corrupt 1%", "gap 1"):  # fmt: skip
        assert part in out, out
