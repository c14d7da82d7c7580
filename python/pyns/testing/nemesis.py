"""A seeded nemesis, as Jepsen's: random faults on a ``Topology`` from a background thread.

    with t.nemesis(seed=7, faults=("partition", "oneway", "pause"), interval_s=0.5) as n:
        run_the_workload()
    print(n.timeline)        # [(0.0, "partition", ("a", "b")), (0.5, "heal", ("a", "b")), ...]

Every `interval_s` the fault in place is healed and a new one is drawn; the draws depend only
on the seed and on the topology's node names, so the same seed on the same topology gives the
same sequence (how many faults fit in the body's time varies, the order does not).
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from ..errors import UnsupportedError
from .faults import random_halves
from .shaping import impairments

if TYPE_CHECKING:
    from .nodes import Host, Veth
    from .topology import Topology

#: The kinds of fault, what each does (to node names drawn from the seed):
#: partition: ``faults.random_halves`` of the hosts and routers, cut from each other
#:     (partition_groups; the event names the smaller half);
#: oneway: what one node sends to another vanishes (partition(a, b, oneway=True));
#: pause: the programs spawned in one host are stopped (SIGSTOP), then continued;
#: link: one link goes down at both ends (routes go around it if they can), then up;
#: loss: one link drops LOSS_PCT percent of its packets each way (netem, or bpf(2) without).
FAULTS = ("partition", "oneway", "pause", "link", "loss")

#: The loss of the "loss" fault, in percent.
LOSS_PCT = 30.0


def supported() -> tuple[str, ...]:
    """The kinds of fault this kernel and these privileges allow (all but "loss" always)."""
    return FAULTS if impairments()["loss_pct"] else tuple(f for f in FAULTS if f != "loss")

#: One event: seconds since the start, the fault (or "heal"), the node names it touched.
Event = tuple[float, str, tuple[str, ...]]


class Nemesis:
    """Runs random faults on a topology while its ``with`` block runs; heals on exit.

    Attributes:
        timeline: every event, heals included: ``(time_s, fault, node_names)``.
        seed, faults, interval_s: as given.
    """

    def __init__(
        self,
        topology: Topology,
        seed: int,
        faults: Optional[Iterable[str]],
        interval_s: float,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        if isinstance(faults, str):
            raise TypeError("faults must be a sequence of fault names, not a str")
        faults = supported() if faults is None else tuple(faults)
        unknown = [f for f in faults if f not in FAULTS]
        if unknown or not faults:
            raise ValueError(f"faults must be some of {FAULTS}, not {faults!r}")
        if "loss" in faults and "loss" not in supported():
            raise UnsupportedError(
                "the 'loss' fault needs netem or bpf(2) (CAP_BPF): see "
                "pyns.testing.impairments()"
            )
        if isinstance(interval_s, bool) or not isinstance(interval_s, (int, float)):
            raise TypeError(f"interval_s must be a number, not {type(interval_s).__name__}")
        if not 0 < interval_s < 86400:
            raise ValueError(f"interval_s must be > 0 (seconds), not {interval_s}")
        self.seed = seed
        self.faults = faults
        self.interval_s = float(interval_s)
        self.timeline: list[Event] = []
        self._t = topology
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._heal: Optional[tuple[Callable[[], None], tuple[str, ...]]] = None
        self._start = 0.0
        self._error: Optional[BaseException] = None

    def __repr__(self) -> str:
        n = len(self.timeline)
        return f"<pyns.testing.Nemesis seed={self.seed} faults={self.faults} events={n}>"

    def __enter__(self) -> Nemesis:
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="pyns-nemesis", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._undo()
        if self._error is not None and exc[0] is None:
            raise self._error

    def _record(self, fault: str, names: tuple[str, ...]) -> None:
        self.timeline.append((round(time.monotonic() - self._start, 6), fault, names))

    def _undo(self) -> None:
        if self._heal is not None:
            heal, names = self._heal
            self._heal = None
            heal()
            self._record("heal", names)

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._undo()
                self._inject()
                self._stop.wait(self.interval_s)
        except BaseException as e:  # shown when the block ends
            self._error = e

    def _inject(self) -> None:
        t, rnd = self._t, self._random
        fault = rnd.choice(self.faults)
        hosts = sorted(t.hosts, key=lambda h: h.name)
        links = t.links
        if fault in ("partition", "oneway", "pause") and len(hosts) < 2:
            raise ValueError(f"the nemesis needs two hosts for {fault!r}")
        if fault == "partition":
            left, right = random_halves(hosts, rnd)
            t.partition_groups(left, right)
            self._set(fault, tuple(left), t.heal)
        elif fault == "oneway":
            a, b = rnd.sample(hosts, 2)
            t.partition(a, b, oneway=True)
            self._set(fault, (a.name, b.name), lambda: t.heal(a, b))
        elif fault == "pause":
            h: Host = rnd.choice(hosts)
            h.pause()
            self._set(fault, (h.name,), h.resume)
        else:
            if not links:
                raise ValueError(f"the nemesis needs a link for {fault!r}")
            v = rnd.choice(links)
            if fault == "link":
                t.link_down(v)
                self._set(fault, (v.a.name, v.b.name), lambda: t.link_up(v))
            else:
                shape = v._shape
                t.shape(v, loss_pct=LOSS_PCT)
                self._set(fault, (v.a.name, v.b.name), lambda: self._reshape(v, shape))

    def _reshape(self, v: Veth, shape: Optional[dict[str, Any]]) -> None:
        if shape is None:
            self._t.unshape(v)
        else:
            self._t.shape(v, **shape)

    def _set(self, fault: str, names: tuple[str, ...], heal: Callable[[], None]) -> None:
        self._record(fault, names)
        self._heal = (heal, names)
