"""The fault methods of ``Topology``: partitions (one-way, by groups), heals, link shapes
and the nemesis. A mixin, so that ``topology.py`` keeps to building and tearing down."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from .. import _native, net
from ..errors import UnsupportedError
from .faults import Cuts
from .nemesis import Nemesis
from .nodes import Host, Veth, _Node
from .shaping import NO_NETEM, impairments, netem


class Faults:
    """Partitions, shapes and the nemesis, mixed into ``Topology``."""

    _nodes: dict[str, _Node]
    _links: list[Veth]
    _cuts: Cuts

    if TYPE_CHECKING:  # provided by Topology

        def _check_open(self) -> None: ...

        def _node(self, node: Union[str, _Node], what: str) -> _Node: ...

        @property
        def hosts(self) -> list[Host]: ...

    def _between(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node]) -> list[Veth]:
        if isinstance(a, Veth):
            if b is not None:
                raise TypeError("give two nodes, or one Veth")
            if a not in self._links:
                raise ValueError(f"{a!r} belongs to another topology")
            return [a]
        if b is None:
            raise TypeError("give two nodes, or one Veth")
        na, nb = self._node(a, "a"), self._node(b, "b")
        found = [v for v in na.links if v.other(na) is nb]
        if not found:
            raise ValueError(
                f"{na.name!r} and {nb.name!r} are not linked directly: partition or shape a "
                "link on the path between them (t.links lists them)"
            )
        return found

    def _direct(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node]) -> Optional[list[Veth]]:
        """The links that `a`, `b` name when the cut is a link's (a ``Veth``, or a switch and a
        node linked to it); None for two hosts, which are cut by rules."""
        if isinstance(a, Veth) or b is None:
            return self._between(a, b)
        na, nb = self._node(a, "a"), self._node(b, "b")
        if isinstance(na, Host) and isinstance(nb, Host):
            return None
        if not any(v.other(na) is nb for v in na.links):
            raise ValueError(
                f"{na.name!r} and {nb.name!r} are not linked directly, and a switch has no "
                "address to cut by: partition the hosts behind it, or its link to a host"
            )
        return self._between(na, nb)

    def _hosts(self, a: Union[str, _Node], b: Union[str, _Node]) -> tuple[Host, Host]:
        na, nb = self._node(a, "a"), self._node(b, "b")
        if na is nb:
            raise ValueError(f"cannot partition {na.name!r} from itself")
        assert isinstance(na, Host) and isinstance(nb, Host)
        return na, nb

    def partition(
        self,
        a: Union[str, _Node, Veth],
        b: Union[None, str, _Node] = None,
        *,
        oneway: bool = False,
    ) -> None:
        """Cuts `a` from `b`: the packets between them vanish silently where they arrive.

        Any two hosts or routers, however far apart (through routers and switches): FIB rules
        in the receiver drop what the other sends it (``from <its address> to <mine>
        blackhole``, for IPv4 and for the links' IPv6 twins alike), and nothing else; both still reach the routers between them, and
        forwarded traffic flows. Programs see no error, only silence (a TCP connect times
        out, established connections stall). A switch and a node linked to it, or a single
        ``Veth``, cut that link instead (both ends drop everything). ``heal`` ends it.

        Args:
            a, b: two nodes (or names), or a single ``Veth``.
            oneway: cut only what `a` sends to `b` (`b` to `a` still arrives); two hosts only.

        Raises:
            ValueError: the same node twice, a switch not linked directly to the other node,
                or ``oneway`` with a switch or a ``Veth``.
            LookupError: no node of that name.
            OSError: the kernel refused a rule.
        """
        self._check_open()
        links = self._direct(a, b)
        if links is not None:
            if oneway:
                raise ValueError("oneway=True needs two hosts or routers: a switch has no address")
            for v in links:
                for node, name in v.ends():
                    net.blackhole(name, netns=node.netns)
                v.partitioned = True
            return
        assert b is not None and not isinstance(a, Veth)
        na, nb = self._hosts(a, b)
        self._cut({(na, nb)} if oneway else {(na, nb), (nb, na)})

    def _cut(self, pairs: set[tuple[Host, Host]]) -> None:
        new = {(a, b) for a, b in pairs if a not in self._cuts.senders.get(b, ())}
        receivers = self._cuts.add(new)
        try:
            self._cuts.sync(receivers)
        except BaseException:
            self._cuts.remove(new)
            self._cuts.sync(receivers)
            raise

    def _group(self, group: Iterable[Union[str, _Node]], what: str) -> list[Host]:
        if isinstance(group, (str, _Node)):
            raise TypeError(f"{what} must be a list of nodes, not a single node {group!r}")
        out = []
        for n in group:
            node = self._node(n, what)
            if not isinstance(node, Host):
                raise ValueError(f"{what}: {node.name!r} is a switch, which has no address to cut")
            out.append(node)
        return out

    def partition_groups(self, *groups: Iterable[Union[str, _Node]]) -> None:
        """Cuts every pair of hosts across groups, both ways; within a group traffic flows.

        Args:
            *groups: two or more lists of hosts or routers (or names), disjoint.

        Raises:
            ValueError: fewer than two groups, a node in two groups, or a switch.
            LookupError: no node of that name.
            OSError: the kernel refused a rule.
        """
        self._check_open()
        if len(groups) < 2:
            raise ValueError(f"partition_groups needs two groups or more, not {len(groups)}")
        hosts = [self._group(g, f"group {i}") for i, g in enumerate(groups)]
        seen: dict[Host, int] = {}
        for i, g in enumerate(hosts):
            for h in g:
                if seen.setdefault(h, i) != i:
                    raise ValueError(f"{h.name!r} is in group {seen[h]} and group {i}")
        pairs = {
            (x, y)
            for i, g in enumerate(hosts)
            for j, other in enumerate(hosts)
            if i != j
            for x in g
            for y in other
        }
        self._cut(pairs)

    def cut_off(self, node: Union[str, _Node]) -> None:
        """Cuts `node` from every other host and router of the topology, both ways.

        Args:
            node: a host or router (or its name).

        Raises:
            ValueError: a switch.
            LookupError: no node of that name.
            OSError: the kernel refused a rule.
        """
        self._check_open()
        (h,) = self._group([node], "node")
        others = [o for o in self.hosts if o is not h]
        self._cut({(h, o) for o in others} | {(o, h) for o in others})

    @property
    def partitions(self) -> frozenset[tuple[str, str]]:
        """The cuts now in place: directed ``(from_name, to_name)`` pairs (a two-way cut shows
        both directions; a cut link, both directions between its nodes)."""
        out = {(x.name, y.name) for x, y in self._cuts.pairs}
        for v in self._links:
            if v.partitioned:
                out |= {(v.a.name, v.b.name), (v.b.name, v.a.name)}
        return frozenset(out)

    def heal(self, a: Union[None, str, _Node, Veth] = None, b: Union[None, str, _Node] = None) -> None:
        """Lifts the cuts between `a` and `b`, whatever made them (``partition``,
        ``partition_groups``, ``cut_off``), in both directions; with no arguments, every cut.
        A healed link gets its shape back, if it had one.

        Args:
            a, b: two nodes (or names), a single ``Veth``, or nothing.

        Raises:
            ValueError: a switch not linked directly to the other node.
            LookupError: no node of that name.
            OSError: the kernel refused to delete a rule.
        """
        self._check_open()
        if a is None:
            if b is not None:
                raise TypeError("give two nodes, one Veth, or nothing")
            links = [v for v in self._links if v.partitioned]
            self._cuts.sync(self._cuts.clear())
        else:
            links = self._direct(a, b) or []
            if b is not None and not isinstance(a, Veth):
                na, nb = self._node(a, "a"), self._node(b, "b")
                links = links or self._between_maybe(na, nb)
                if isinstance(na, Host) and isinstance(nb, Host):
                    self._cuts.sync(self._cuts.remove({(na, nb), (nb, na)}))
        for v in links:
            if v.partitioned:
                ends = v._shape_ends if v._shape else ()
                self._apply(v, v._shape, ends)
                self._apply(v, None, tuple(e for e in (0, 1) if e not in ends))
                v.partitioned = False

    @staticmethod
    def _between_maybe(na: _Node, nb: _Node) -> list[Veth]:
        return [v for v in na.links if v.other(na) is nb]

    def shape(
        self,
        a: Union[str, _Node, Veth],
        b: Union[None, str, _Node] = None,
        *,
        delay_ms: Optional[float] = None,
        jitter_ms: Optional[float] = None,
        loss_pct: Optional[float] = None,
        rate_mbit: Optional[float] = None,
        oneway: bool = False,
        distribution: Optional[str] = None,
        loss_correlation_pct: Optional[float] = None,
        duplicate_pct: Optional[float] = None,
        reorder_pct: Optional[float] = None,
        corrupt_pct: Optional[float] = None,
        limit: Optional[int] = None,
    ) -> None:
        """Shapes the links between `a` and `b`, in both directions (each end's egress), or
        with ``oneway=True`` only what `a` sends to `b`.

        netem adds `delay_ms` (± `jitter_ms`, spread by `distribution`) one way, so a round
        trip grows by twice the delay, drops `loss_pct` percent of the packets sent each way
        (`loss_correlation_pct`: in bursts), duplicates, reorders and corrupts the given
        shares, queues at most `limit` packets; tbf limits each direction to `rate_mbit`.
        Without netem (``pyns.testing.impairments()`` says), loss comes from a cls_bpf program
        loaded with bpf(2) (needs CAP_BPF), and rate from tbf; the rest is refused. Configured
        by netlink; a new shape replaces the old.

        Args:
            a, b: two linked nodes (or names), or a single ``Veth`` (then `a` is its ``a``).
            delay_ms, jitter_ms, distribution, loss_pct, loss_correlation_pct, duplicate_pct,
                reorder_pct, corrupt_pct, limit, rate_mbit: see :func:`pyns.net.shape`.
            oneway: shape only the end that sends from `a` to `b`.

        Raises:
            TypeError, ValueError: bad settings (as for :func:`pyns.net.shape`), or nodes not
                linked directly.
            pyns.UnsupportedError: anything but loss and rate on a kernel without netem, or
                loss without netem nor bpf(2) (in a user namespace), before anything is
                changed; the message names sch_netem and how to get it.
        """
        self._check_open()
        links = self._between(a, b)
        spec: dict[str, Any] = dict(
            delay_ms=delay_ms, jitter_ms=jitter_ms, distribution=distribution, loss_pct=loss_pct,
            loss_correlation_pct=loss_correlation_pct, duplicate_pct=duplicate_pct,
            reorder_pct=reorder_pct, corrupt_pct=corrupt_pct, limit=limit, rate_mbit=rate_mbit,
        )
        _native.net_shape_check(**spec)
        needs = [k for k, v in spec.items() if v is not None and k not in ("loss_pct", "rate_mbit")]
        if needs and not netem():
            raise UnsupportedError(f"{', '.join(needs)} need netem: {NO_NETEM}")
        if loss_pct is not None and not netem():  # checked here: bpf loss comes after tbf
            if not 0 < loss_pct <= 100:
                raise ValueError(f"loss_pct must be > 0 and <= 100, not {loss_pct}")
            if not impairments()["loss_pct"]:
                raise UnsupportedError(
                    f"loss_pct needs netem, or bpf(2) with CAP_BPF (root): {NO_NETEM}"
                )
        sender = None if isinstance(a, Veth) else self._node(a, "a")
        for v in links:
            ends = (0, 1) if not oneway else (0,) if sender in (None, v.a) else (1,)
            if not v.partitioned:
                self._apply(v, spec, ends)
                if v._shape is not None:
                    self._apply(v, None, tuple(e for e in v._shape_ends if e not in ends))
            v._shape, v._shape_ends = spec, ends

    def unshape(self, a: Union[str, _Node, Veth], b: Union[None, str, _Node] = None) -> None:
        """Removes the shape of the links between `a` and `b`.

        Args:
            a, b: two linked nodes (or names), or a single ``Veth``.

        Raises:
            ValueError: the nodes are not linked directly.
        """
        self._check_open()
        for v in self._between(a, b):
            if not v.partitioned:
                self._apply(v, None, v._shape_ends)
            v._shape = None

    @staticmethod
    def _apply(v: Veth, spec: Optional[dict[str, Any]], ends: tuple[int, ...]) -> None:
        """Puts `spec` (None: no shape) on the given ends (0: ``v.a``'s, 1: ``v.b``'s)."""
        for i, (node, name) in enumerate(v.ends()):
            if i not in ends:
                continue
            loss = None if spec is None else spec["loss_pct"]
            bpf_loss = loss is not None and not netem()
            if spec is None:
                net.unshape(name, netns=node.netns)
            elif bpf_loss:
                if spec["rate_mbit"] is not None:
                    net.shape(name, rate_mbit=spec["rate_mbit"], netns=node.netns)
                else:
                    net.unshape(name, netns=node.netns)
            else:
                net.shape(name, netns=node.netns, **spec)
            if not netem():
                _native.net_bpf_loss(name, loss if bpf_loss else None, node.netns)

    def nemesis(
        self,
        seed: int = 0,
        faults: Optional[Iterable[str]] = None,
        interval_s: float = 0.5,
    ) -> Nemesis:
        """Random faults from a background thread while the ``with`` block runs, as Jepsen's
        nemesis: every `interval_s` the last fault is healed and a new one drawn from `seed`.
        Leaving the block (also by an exception) heals what is in place.

        Args:
            seed: the same seed on the same topology gives the same sequence of faults.
            faults: some of ``pyns.testing.nemesis.FAULTS`` (``"partition"``, ``"oneway"``,
                ``"pause"``, ``"link"``, ``"loss"``); default: all this kernel supports.
            interval_s: seconds between faults.

        Returns:
            The ``Nemesis``; ``n.timeline`` lists ``(time_s, fault, node_names)``, heals too.

        Raises:
            TypeError, ValueError: bad arguments.
            pyns.UnsupportedError: ``"loss"`` where neither netem nor bpf(2) is available.
        """
        self._check_open()
        return Nemesis(self, seed, faults, interval_s)  # type: ignore[arg-type]

