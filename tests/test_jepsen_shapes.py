"""Jepsen's partition shapes (pure functions of names and a seed; no root needed)."""

from __future__ import annotations

import random

import pytest

from pyns.testing.faults import bridge, majorities_ring, random_halves

NODES = ["n1", "n2", "n3", "n4", "n5"]


def test_random_halves_split_all_nodes_by_seed() -> None:
    left, right = random_halves(NODES, 7)
    assert len(left) == 2 and len(right) == 3 and sorted(left + right) == NODES
    assert random_halves(reversed(NODES), 7) == (left, right)  # order of input irrelevant
    assert random_halves(NODES, random.Random(7)) == (left, right)
    seen = {tuple(random_halves(NODES, s)[0]) for s in range(50)}
    assert len(seen) > 3


def test_bridge_keeps_one_node_talking_to_both_halves() -> None:
    grudges = bridge(NODES, 3)
    involved = {a for a, _ in grudges} | {b for _, b in grudges}
    (middle,) = set(NODES) - involved
    assert all((b, a) in grudges for a, b in grudges)  # both ways
    assert len(grudges) == 2 * 2 * 2  # 2 nodes on each side
    assert bridge(NODES, 3) == grudges and middle in NODES


def test_majorities_ring_every_node_hears_a_different_majority() -> None:
    grudges = majorities_ring(NODES, 11)
    heard = {me: {s for s in NODES if (s, me) not in grudges} for me in NODES}
    assert all(me in h and len(h) == 3 for me, h in heard.items())  # a majority of 5
    assert len({frozenset(h) for h in heard.values()}) == len(NODES)
    assert majorities_ring(NODES, 11) == grudges


def test_shapes_check_their_nodes() -> None:
    with pytest.raises(ValueError, match="two nodes"):
        random_halves(["a"])
    with pytest.raises(ValueError, match="twice"):
        random_halves(["a", "a"])
    with pytest.raises(ValueError, match="three"):
        bridge(["a", "b"])
    with pytest.raises(ValueError, match="three"):
        majorities_ring(["a", "b"])
