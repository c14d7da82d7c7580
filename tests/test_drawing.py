"""pyns.testing.drawing: a Topology drawn as self-contained SVG (layout, shapes, labels).

The drawing functions are pure and run without root; the last tests draw a real Topology.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from pyns.testing.drawing import Edge, Node, layout, shape_label, svg

NS = "{http://www.w3.org/2000/svg}"


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def nodes_by_class(root: ET.Element) -> dict[str, str]:
    """Each drawn node's name (its id without "node-") -> its class ("node host", ...)."""
    return {
        g.get("id", "")[len("node-"):]: g.get("class", "")
        for g in root.iter(f"{NS}g")
        if g.get("class", "").startswith("node ")
    }


def test_svg_parses_names_every_node_with_its_shape():
    nodes = [Node("a", "host"), Node("r", "router"), Node("sw", "switch", "10.0.9.0/24")]
    edges = [Edge("a", "r", "eth0\n10.0.0.1/24", "eth0\n10.0.0.2/24"), Edge("sw", "r", "eth0", "")]
    root = ET.fromstring(svg(nodes, edges, title="t"))
    assert nodes_by_class(root) == {"a": "node host", "r": "node router", "sw": "node switch"}
    shapes = {
        name: [c.tag[len(NS):] for c in g if c.tag != f"{NS}title" and c.tag != f"{NS}text"]
        for name, g in ((g.get("id"), g) for g in root.iter(f"{NS}g"))
        if name
    }
    assert shapes == {"node-a": ["rect"], "node-r": ["circle"], "node-sw": ["polygon"]}
    words = " ".join(texts(root))
    for word in ("a", "r", "sw", "10.0.9.0/24", "eth0", "10.0.0.1/24", "10.0.0.2/24"):
        assert word in words
    assert "<script" not in svg(nodes, edges) and "href" not in svg(nodes, edges)


def test_partitioned_links_are_dashed_red_and_shaped_ones_labelled():
    edges = [
        Edge("a", "b", partitioned=True),
        Edge("b", "c", shape=shape_label({"rate_mbit": 20, "delay_ms": 50.0})),
        Edge("c", "a"),
    ]
    root = ET.fromstring(svg([Node(n, "host") for n in "abc"], edges))
    links = {g.get("class"): g.find(f"{NS}line") for g in root.iter(f"{NS}g")}
    cut = links["link partitioned"]
    assert cut is not None and cut.get("stroke-dasharray") and cut.get("stroke") == "#d32f2f"
    plain = links["link"]
    assert plain is not None and plain.get("stroke-dasharray") is None
    assert "20 Mbit/s, 50 ms" in texts(root) and "partitioned" in texts(root)


def test_shape_labels():
    assert shape_label(None) == ""
    assert shape_label({"rate_mbit": 20.0, "delay_ms": 50.0, "jitter_ms": None}) == (
        "20 Mbit/s, 50 ms"
    )
    assert shape_label({"delay_ms": 10, "jitter_ms": 2.5, "loss_pct": 1}) == (
        "10 ms ± 2.5 ms, 1% loss"
    )


def test_names_are_escaped():
    root = ET.fromstring(svg([Node("<a&b>", "host"), Node('"q"', "router")], [Edge("<a&b>", '"q"')]))
    assert set(nodes_by_class(root)) == {"<a&b>", '"q"'}


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError, match="kind"):
        svg([Node("a", "computer")], [])
    with pytest.raises(ValueError, match="twice"):
        svg([Node("a", "host"), Node("a", "router")], [])
    with pytest.raises(ValueError, match="not drawn"):
        svg([Node("a", "host")], [Edge("a", "b")])


def ring_and_stars(n_routers: int, hosts_each: int) -> tuple[list[str], list[tuple[str, str]]]:
    routers = [f"r{i}" for i in range(n_routers)]
    links = [(routers[i], routers[(i + 1) % n_routers]) for i in range(n_routers)]
    names = list(routers)
    for i, r in enumerate(routers):
        for j in range(hosts_each):
            names.append(f"h{i}.{j}")
            links.append((r, f"h{i}.{j}"))
    return names, links


def test_layout_is_deterministic_and_spreads_50_nodes():
    names, links = ring_and_stars(10, 4)  # 50 nodes
    names += ["lonely1", "lonely2"]  # and two unlinked ones, placed beside
    pos = layout(names, links)
    assert pos == layout(names, links)
    assert set(pos) == set(names)
    closest = min(
        math.dist(pos[a], pos[b]) for i, a in enumerate(names) for b in names[i + 1 :]
    )
    assert closest > 60  # no two nodes on top of each other (shapes are ~50-70 px wide)
    lengths = [math.dist(pos[a], pos[b]) for a, b in links]
    assert max(lengths) < 4 * min(lengths)  # links of comparable length
    assert min(x for x, _ in pos.values()) == 0 and min(y for _, y in pos.values()) == 0


def test_a_chain_is_laid_out_straight():
    names = ["a", "r1", "r2", "b"]
    pos = layout(names, [("a", "r1"), ("r1", "r2"), ("r2", "b")])
    xs = [pos[n][0] for n in names]
    assert xs == sorted(xs) or xs == sorted(xs, reverse=True)
    assert max(abs(pos[n][1] - pos["a"][1]) for n in names) < 20


@pytest.mark.requires_root
def test_topology_draws_itself(tmp_path):
    from pyns.testing import Topology

    with Topology() as t:
        a, r, b = t.host("a"), t.router("r"), t.host("b")
        sw = t.switch("lan")
        t.link(a, r)
        t.link(r, b)
        t.link(sw, r)
        t.link(sw, t.host("c"))
        t.shape(r, b, rate_mbit=20)  # tbf: netem (delay) may be missing from the kernel
        t.partition(a, r)
        root = ET.fromstring(t._repr_svg_())
        assert nodes_by_class(root) == {
            "a": "node host", "r": "node router", "b": "node host", "c": "node host",
            "lan": "node switch",
        }
        words = texts(root)
        for addr in a.addresses + r.addresses + b.addresses:
            assert addr in " ".join(words)
        assert "20 Mbit/s" in words and "partitioned" in words
        assert t._repr_html_().startswith("<div><svg ")
        t.draw(tmp_path / "t.svg")
        assert (tmp_path / "t.svg").read_text() == t._repr_svg_()
    assert "closed" in " ".join(texts(ET.fromstring(t._repr_svg_())))
