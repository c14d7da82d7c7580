"""Partitions between any two hosts of a ``Topology``, by FIB rules in the receiver.

A cut from host ``a`` to host ``b`` is one rule per pair of addresses in ``b``'s network
namespace: ``from <a's address> to <b's address> blackhole``, the kernel's own silent drop (no
ICMP, no error to anyone: the sender's TCP connect just times out). Packets that ``b`` forwards
for others, and everything ``a`` sends to other nodes through ``b``, keep flowing. The kernel
looks the ``local`` table up at priority 0, before any rule one can add, so the first cut in a
namespace moves that lookup to ``LOCAL_PRIORITY`` (``ip rule add pref 1000 lookup local;
ip rule del pref 0 lookup local``); the cut rules sit at ``CUT_PRIORITY``, before it. Adding a
rule flushes the routing cache, so established TCP connections are cut too.

Why rules and not nf_tables or a cls_bpf filter: a rule is one small rtnetlink message that
the kernel has everywhere (no module, no bpf(2) permission, also in a user namespace), it
matches exactly "from this node to that node" whatever path the packets took, and ``ip rule``
shows it.
"""

from __future__ import annotations

import ipaddress
import random
from typing import TYPE_CHECKING, Iterable, Union

from .. import _native

if TYPE_CHECKING:
    from .nodes import Host

#: Where the cut rules go: before the lookup of the ``local`` table.
CUT_PRIORITY = 500
#: Where the lookup of the ``local`` table moves on a host's first cut (from 0).
LOCAL_PRIORITY = 1000

#: A rule as kept here: (IP version, source address, destination address).
Rule = tuple[int, str, str]


def _rules(sender: Host, receiver: Host) -> set[Rule]:
    """The rules in `receiver` that drop what `sender` sends it."""
    out: set[Rule] = set()
    for _, src in sender._addresses:
        for _, dst in receiver._addresses:
            if src.version == dst.version:
                out.add((src.version, str(src.ip), str(dst.ip)))
    return out


class Cuts:
    """The directed cuts between hosts, and the FIB rules installed to make them.

    ``senders[b]`` holds the hosts cut from ``b`` (what they send to ``b`` vanishes);
    ``sync(receivers)`` brings those hosts' rules in line with it, at a cost that grows with
    their cuts only; ``readdressed()`` with the hosts' addresses, after links come or go.
    """

    def __init__(self) -> None:
        self.senders: dict[Host, set[Host]] = {}
        self._installed: dict[Host, set[Rule]] = {}
        self._moved: set[tuple[Host, int]] = set()
        #: The rules of each cut (sender, receiver), made once per set of addresses: a
        #: receiver's rules are the union of its cuts', and an address string is dear (IPv6).
        self._pair_rules: dict[tuple[Host, Host], set[Rule]] = {}

    @property
    def pairs(self) -> set[tuple[Host, Host]]:
        """Every cut as ``(sender, receiver)``."""
        return {(a, b) for b, senders in self.senders.items() for a in senders}

    def add(self, pairs: set[tuple[Host, Host]]) -> set[Host]:
        """Adds cuts; returns their receivers."""
        for a, b in pairs:
            self.senders.setdefault(b, set()).add(a)
        return {b for _, b in pairs}

    def remove(self, pairs: set[tuple[Host, Host]]) -> set[Host]:
        """Lifts cuts (absent ones are ignored); returns their receivers."""
        for a, b in pairs:
            self.senders.get(b, set()).discard(a)
        return {b for _, b in pairs}

    def clear(self) -> set[Host]:
        """Lifts every cut; returns the hosts that had rules."""
        self.senders.clear()
        return {h for h, rules in self._installed.items() if rules}

    def sync(self, receivers: Iterable[Host]) -> None:
        """Adds the missing rules and deletes those of lifted cuts in `receivers`.

        Raises:
            OSError: the kernel refused a rule.
        """
        for host in receivers:
            want: set[Rule] = set()
            for sender in self.senders.get(host, ()):
                rules = self._pair_rules.get((sender, host))
                if rules is None:
                    rules = self._pair_rules[sender, host] = _rules(sender, host)
                want |= rules
            have = self._installed.setdefault(host, set())
            for rule in sorted(have - want):
                self._rule(host, rule, add=False)
                have.discard(rule)
            for rule in sorted(want - have):
                if (host, rule[0]) not in self._moved:
                    _native.net_move_local_rule(rule[0], LOCAL_PRIORITY, host.netns)
                    self._moved.add((host, rule[0]))
                self._rule(host, rule, add=True)
                have.add(rule)

    def readdressed(self) -> None:
        """Brings every receiver's rules in line with the hosts' addresses as they are now.

        Raises:
            OSError: the kernel refused a rule.
        """
        self._pair_rules.clear()
        self.sync(list(self.senders))

    def forget(self, host: Host) -> None:
        """Drops every cut from or to `host` (the caller then syncs the others); its own
        rules go with its namespace."""
        self.senders.pop(host, None)
        for senders in self.senders.values():
            senders.discard(host)
        self._installed.pop(host, None)
        self._moved = {m for m in self._moved if m[0] is not host}
        self._pair_rules = {pair: r for pair, r in self._pair_rules.items() if host not in pair}

    @staticmethod
    def _rule(host: Host, rule: Rule, *, add: bool) -> None:
        version, src, dst = rule
        _native.net_rule(
            add,
            version,
            str(ipaddress.ip_network(src)),
            str(ipaddress.ip_network(dst)),
            CUT_PRIORITY,
            None,
            host.netns,
        )


# ---------------------------------------------------------------- Jepsen's usual shapes
#
# Pure functions of node names and a seed. `random_halves` gives groups for
# ``Topology.partition_groups``; `bridge` and `majorities_ring` give grudges: directed
# ``(sender, receiver)`` pairs, each applied by ``Topology.partition(s, r, oneway=True)``.


def _names(nodes: Iterable[object]) -> list[str]:
    names = [n if isinstance(n, str) else getattr(n, "name", None) for n in nodes]
    if len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise ValueError(f"give two nodes or more (hosts or their names), not {names!r}")
    checked = sorted(n for n in names if isinstance(n, str))
    if len(set(checked)) != len(checked):
        raise ValueError(f"a node is given twice in {checked}")
    return checked


def _shuffled(nodes: Iterable[object], seed: Union[int, random.Random]) -> list[str]:
    rnd = seed if isinstance(seed, random.Random) else random.Random(seed)
    names = _names(nodes)
    rnd.shuffle(names)
    return names


def random_halves(
    nodes: Iterable[object], seed: Union[int, random.Random] = 0
) -> tuple[list[str], list[str]]:
    """Jepsen's random halves: the nodes shuffled and split, the smaller half first.

    Args:
        nodes: hosts (or names), two or more.
        seed: an int or a ``random.Random``; the same seed gives the same halves.

    Returns:
        Two lists of names, for ``t.partition_groups(*halves)``.

    Raises:
        ValueError: fewer than two nodes, or one given twice.
    """
    names = _shuffled(nodes, seed)
    half = len(names) // 2
    return sorted(names[:half]), sorted(names[half:])


def bridge(nodes: Iterable[object], seed: Union[int, random.Random] = 0) -> set[tuple[str, str]]:
    """Jepsen's bridge: two halves that cannot talk, and one node that talks to both.

    Args:
        nodes: hosts (or names), three or more.
        seed: an int or a ``random.Random``.

    Returns:
        Grudges: directed ``(sender, receiver)`` name pairs to cut.

    Raises:
        ValueError: fewer than three nodes, or one given twice.
    """
    names = _shuffled(nodes, seed)
    if len(names) < 3:
        raise ValueError("a bridge needs three nodes or more")
    half = len(names) // 2
    left, right = names[:half], names[half + 1 :]  # names[half] is the bridge
    return {(a, b) for a in left for b in right} | {(b, a) for a in left for b in right}


def majorities_ring(
    nodes: Iterable[object], seed: Union[int, random.Random] = 0
) -> set[tuple[str, str]]:
    """Jepsen's majorities ring: every node hears from a majority, no two the same one.

    The nodes are shuffled into a ring; each hears only from the majority-sized window of the
    ring centred on it.

    Args:
        nodes: hosts (or names), three or more.
        seed: an int or a ``random.Random``.

    Returns:
        Grudges: directed ``(sender, receiver)`` name pairs to cut.

    Raises:
        ValueError: fewer than three nodes, or one given twice.
    """
    ring = _shuffled(nodes, seed)
    n = len(ring)
    if n < 3:
        raise ValueError("a majorities ring needs three nodes or more")
    m = n // 2 + 1
    out = set()
    for i in range(n):
        window = [ring[(i + j) % n] for j in range(m)]
        me = window[m // 2]
        out |= {(other, me) for other in ring if other not in window}
    return out
