"""Pictures of a ``Topology``: a deterministic layout and a self-contained SVG.

Pure Python, no namespaces touched: ``svg(nodes, edges)`` draws plain ``Node``/``Edge`` records,
``topology_svg(t)`` reads them off a topology. The SVG has no JavaScript, no fonts or images to
fetch and no external program behind it, so it shows the same in Jupyter, a browser or a file.

Hosts are rounded boxes, routers circles and switches hexagons; each link is labelled with the
interface name and address at each end; a partitioned link is dashed and red, a shaped one
carries its shape ("20 Mbit/s, 50 ms") in the middle. The layout is a force-directed one
(Fruchterman-Reingold) started from a breadth-first layering and seeded, so the same topology
is always drawn the same way.
"""

from __future__ import annotations

import html
import math
import random
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

if TYPE_CHECKING:
    from .topology import Topology

__all__ = ["Edge", "Node", "layout", "shape_label", "svg", "topology_svg"]

#: The wanted length of a link, in pixels: room for the labels at both ends.
LENGTH = 210.0
FONT = 11  # px
CHAR = 6.3  # the width of one character at FONT px, roughly (sans-serif)
MARGIN = 24.0
STYLE = {
    "host": ("#e8f1fb", "#2f6db5"),
    "router": ("#fdf0dc", "#c2710c"),
    "switch": ("#e6f4ea", "#2e7d4f"),
}
KINDS = tuple(STYLE)
#: Presentation attributes of each class of text (no <style>: some viewers drop it).
TEXT = {
    "name": 'fill="#111" font-weight="bold" font-size="12"',
    "end": 'fill="#333"',
    "cut": 'fill="#d32f2f" font-weight="bold"',
    "shape": 'fill="#6a1b9a" font-style="italic"',
    "legend": 'fill="#555"',
    "title": 'fill="#111" font-weight="bold" font-size="13"',
}


@dataclass(frozen=True)
class Node:
    """A node to draw.

    Attributes:
        name: its name (unique in the picture).
        kind: ``"host"``, ``"router"`` or ``"switch"`` (its shape).
        note: a second line under the name (a switch's subnet), or "".
    """

    name: str
    kind: str
    note: str = ""


@dataclass(frozen=True)
class Edge:
    """A link to draw, between the nodes named `a` and `b`.

    Attributes:
        a, b: the names of its ends.
        a_label, b_label: the text at each end (interface name, address), lines split by "\\n".
        partitioned: drawn dashed and red.
        shape: its shape, written in the middle ("20 Mbit/s, 50 ms"), or "".
    """

    a: str
    b: str
    a_label: str = ""
    b_label: str = ""
    partitioned: bool = False
    shape: str = ""


def _number(x: float) -> str:
    return f"{x:g}"


def shape_label(spec: Optional[Mapping[str, Optional[float]]]) -> str:
    """The label of a shaped link, such as ``"20 Mbit/s, 50 ms"``.

    Args:
        spec: the keywords given to ``Topology.shape`` (``rate_mbit``, ``delay_ms``,
            ``jitter_ms``, ``loss_pct``; None or missing for unset), or None.

    Returns:
        The label; "" for no shape.
    """
    if not spec:
        return ""
    parts = []
    if spec.get("rate_mbit") is not None:
        parts.append(f"{_number(spec['rate_mbit'])} Mbit/s")  # type: ignore[arg-type]
    if spec.get("delay_ms") is not None:
        delay = f"{_number(spec['delay_ms'])} ms"  # type: ignore[arg-type]
        if spec.get("jitter_ms"):
            delay += f" ± {_number(spec['jitter_ms'])} ms"  # type: ignore[arg-type]
        parts.append(delay)
    if spec.get("loss_pct") is not None:
        parts.append(f"{_number(spec['loss_pct'])}% loss")  # type: ignore[arg-type]
    return ", ".join(parts)


def _components(names: Sequence[str], adj: Mapping[str, list[str]]) -> list[list[str]]:
    """The connected components, each in breadth-first order from its best-linked node."""
    seen: set[str] = set()
    out = []
    for start in sorted(names, key=lambda n: (-len(adj[n]), names.index(n))):
        if start in seen:
            continue
        seen.add(start)
        order, queue = [], deque([start])
        while queue:
            n = queue.popleft()
            order.append(n)
            for m in adj[n]:
                if m not in seen:
                    seen.add(m)
                    queue.append(m)
        out.append(order)
    return out


def _layout_component(order: list[str], adj: Mapping[str, list[str]], rng: random.Random):
    """Fruchterman-Reingold on one component, started from breadth-first layers; nodes
    repel only within 2.5 link lengths (the grid variant), so that chains stay short."""
    depth = {order[0]: 0}
    for n in order:
        for m in adj[n]:
            depth.setdefault(m, depth[n] + 1)
    layers: dict[int, list[str]] = {}
    for n in order:
        layers.setdefault(depth[n], []).append(n)
    pos = {}
    for d, members in layers.items():
        for i, n in enumerate(members):
            pos[n] = [
                d * LENGTH + rng.uniform(-1, 1),
                (i - (len(members) - 1) / 2) * LENGTH * 0.8 + rng.uniform(-1, 1),
            ]
    if len(order) < 2:
        return {n: (0.0, 0.0) for n in order}
    k = LENGTH
    edges = [(n, m) for n in order for m in adj[n] if order.index(n) < order.index(m)]
    far2 = (2.5 * k) ** 2
    temp = LENGTH
    steps = 250
    for step in range(steps):
        disp = {n: [0.0, 0.0] for n in order}
        for i, n in enumerate(order):
            pn = pos[n]
            for m in order[i + 1 :]:
                pm = pos[m]
                dx, dy = pn[0] - pm[0], pn[1] - pm[1]
                d2 = dx * dx + dy * dy
                if d2 > far2:
                    continue  # far apart: let them be, or big clusters push each other away
                if d2 < 1e-4:
                    dx, dy, d2 = rng.uniform(-1, 1), rng.uniform(-1, 1), 1.0
                f = k * k / d2  # repulsion k²/d, along the unit vector (dx, dy)/d
                disp[n][0] += dx * f
                disp[n][1] += dy * f
                disp[m][0] -= dx * f
                disp[m][1] -= dy * f
        for n, m in edges:
            pn, pm = pos[n], pos[m]
            dx, dy = pn[0] - pm[0], pn[1] - pm[1]
            d = math.hypot(dx, dy) or 1e-3
            f = d / k  # attraction d²/k, along the unit vector
            disp[n][0] -= dx * f
            disp[n][1] -= dy * f
            disp[m][0] += dx * f
            disp[m][1] += dy * f
        for n in order:
            dx, dy = disp[n]
            d = math.hypot(dx, dy)
            if d > 0:
                move = min(d, temp)
                pos[n][0] += dx / d * move
                pos[n][1] += dy / d * move
        temp = max(LENGTH * (1 - (step + 1) / steps), 1.0)
    return {n: (p[0], p[1]) for n, p in pos.items()}


def _widen(pos: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Turns a component so that its longest extent (principal axis) is horizontal."""
    n = len(pos)
    if n < 2:
        return pos
    cx = sum(x for x, _ in pos.values()) / n
    cy = sum(y for _, y in pos.values()) / n
    sxx = sum((x - cx) ** 2 for x, _ in pos.values())
    syy = sum((y - cy) ** 2 for _, y in pos.values())
    sxy = sum((x - cx) * (y - cy) for x, y in pos.values())
    angle = 0.5 * math.atan2(2 * sxy, sxx - syy)
    c, s = math.cos(-angle), math.sin(-angle)
    return {k: ((x - cx) * c - (y - cy) * s, (x - cx) * s + (y - cy) * c) for k, (x, y) in pos.items()}


def layout(
    names: Sequence[str], links: Sequence[tuple[str, str]], *, seed: int = 1
) -> dict[str, tuple[float, float]]:
    """Places nodes so that linked ones are near and the others apart, the same way each time.

    Args:
        names: the node names.
        links: pairs of names that are linked.
        seed: the seed of the small jitter that breaks symmetries.

    Returns:
        Each name's (x, y), in pixels, the top-left corner at (0, 0) (before labels).

    Raises:
        ValueError: a link names a node that is not in `names`.
    """
    names = list(names)
    adj: dict[str, list[str]] = {n: [] for n in names}
    for a, b in links:
        if a not in adj or b not in adj:
            raise ValueError(f"link {a!r} - {b!r} names a node that is not drawn")
        if a != b and b not in adj[a]:
            adj[a].append(b)
            adj[b].append(a)
    rng = random.Random(seed)
    out: dict[str, tuple[float, float]] = {}
    x0 = 0.0
    for order in _components(names, adj):  # side by side, left to right
        pos = _widen(_layout_component(order, adj, rng))
        xs = [p[0] for p in pos.values()]
        ys = [p[1] for p in pos.values()]
        for n, (x, y) in pos.items():
            out[n] = (x - min(xs) + x0, y - min(ys))
        x0 += max(xs) - min(xs) + LENGTH
    return out


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _text(x: float, y: float, lines: Sequence[str], cls: str, anchor: str = "middle") -> str:
    """Lines of text centred on (x, y)."""
    first = y - (len(lines) - 1) * (FONT + 2) / 2 + FONT * 0.35
    spans = "".join(
        f'<tspan x="{x:.1f}" y="{first + i * (FONT + 2):.1f}">{_e(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text class="{cls}" text-anchor="{anchor}" {TEXT[cls]}>{spans}</text>'


def _size(node: Node) -> tuple[float, float]:
    """Half the width and height of a node's shape."""
    lines = [node.name] + ([node.note] if node.note else [])
    w = max(len(s) for s in lines) * CHAR / 2 + 12
    if node.kind == "router":
        r = max(w, 26.0)
        return r, r
    if node.kind == "switch":
        return max(w + 10, 40.0), 24.0
    return max(w, 36.0), 18.0 + 6.5 * (len(lines) - 1)


def _shape(kind: str, x: float, y: float, w: float, h: float) -> str:
    """The outline of a node of `kind` centred on (x, y), `w` and `h` half its size."""
    fill, stroke = STYLE[kind]
    paint = f'fill="{fill}" stroke="{stroke}" stroke-width="2"'
    if kind == "router":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{w:.1f}" {paint}/>'
    if kind == "switch":
        c = min(14.0, w / 2)
        pts = [(x - w, y), (x - w + c, y - h), (x + w - c, y - h), (x + w, y),
               (x + w - c, y + h), (x - w + c, y + h)]
        coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        return f'<polygon points="{coords}" {paint}/>'
    return (
        f'<rect x="{x - w:.1f}" y="{y - h:.1f}" width="{2 * w:.1f}" height="{2 * h:.1f}" '
        f'rx="{min(8.0, h / 2):.1f}" {paint}/>'
    )


def _reach(node: Node, ux: float, uy: float) -> float:
    """How far from a node's centre its outline is, in the direction (ux, uy)."""
    w, h = _size(node)
    if node.kind == "router":
        return w
    return min(w / abs(ux) if ux else math.inf, h / abs(uy) if uy else math.inf)


def svg(nodes: Sequence[Node], edges: Sequence[Edge], *, title: str = "", seed: int = 1) -> str:
    """Draws nodes and links as a standalone SVG document.

    Args:
        nodes: the nodes; names must be unique, kinds ``"host"``, ``"router"`` or ``"switch"``.
        edges: the links between them.
        title: a caption at the top, or "".
        seed: the layout's seed (see :func:`layout`).

    Returns:
        The SVG, as text (``<svg xmlns=...>...</svg>``).

    Raises:
        ValueError: an unknown kind, a name twice, or a link to a node not in `nodes`.
    """
    by_name: dict[str, Node] = {}
    for n in nodes:
        if n.kind not in STYLE:
            raise ValueError(f"node {n.name!r}: kind must be one of {KINDS}, not {n.kind!r}")
        if n.name in by_name:
            raise ValueError(f"node {n.name!r} is given twice")
        by_name[n.name] = n
    pos = layout(list(by_name), [(e.a, e.b) for e in edges], seed=seed)
    lines_svg: list[str] = []  # drawn first, then the labels, then the nodes on top
    nodes_svg: list[str] = []
    labels: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []  # everything drawn, for the viewBox

    def put(x: float, y: float, lines: Sequence[str], cls: str) -> None:
        """A label on a link, over a white box so that the link does not cross the text."""
        w = max(len(s) for s in lines) * CHAR / 2 + 2
        h = len(lines) * (FONT + 2) / 2 + 1
        boxes.append((x - w, y - h, x + w, y + h))
        labels.append(
            f'<rect x="{x - w:.1f}" y="{y - h:.1f}" width="{2 * w:.1f}" height="{2 * h:.1f}" '
            f'rx="3" fill="#fff" fill-opacity="0.9"/>' + _text(x, y, lines, cls)
        )

    seen: dict[frozenset[str], int] = {}
    for e in edges:
        (ax, ay), (bx, by) = pos[e.a], pos[e.b]
        dx, dy = bx - ax, by - ay
        d = math.hypot(dx, dy) or 1.0
        ux, uy = dx / d, dy / d
        nx, ny = -uy, ux  # normal, for parallel links and for labels
        pair = frozenset((e.a, e.b))
        k = seen.get(pair, 0)
        seen[pair] = k + 1
        off = (k + 1) // 2 * 18 * (1 if k % 2 else -1)  # 0, 18, -18, 36, ...
        ax, ay, bx, by = ax + nx * off, ay + ny * off, bx + nx * off, by + ny * off
        cls = "link partitioned" if e.partitioned else ("link shaped" if e.shape else "link")
        style = (
            'stroke="#d32f2f" stroke-width="2.5" stroke-dasharray="9 6"'
            if e.partitioned
            else 'stroke="#555" stroke-width="2"'
        )
        title_text = f"{e.a} — {e.b}" + (" (partitioned)" if e.partitioned else "")
        if e.shape:
            title_text += f" ({e.shape})"
        lines_svg.append(
            f'<g class="{cls}"><title>{_e(title_text)}</title>'
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" {style}/></g>'
        )
        # Labels beside the link, not on it: the ends' above it, the shape's below.
        px, py = (nx, ny) if ny < 0 or (ny == 0 and nx > 0) else (-nx, -ny)

        def beside(w: float, h: float) -> float:
            """How far from the link a box of half-size (w, h) clears it."""
            return abs(px) * w + abs(py) * h + 3

        for end, label, sx, sy, sign in ((e.a, e.a_label, ax, ay, 1), (e.b, e.b_label, bx, by, -1)):
            if not label:
                continue
            lines = label.split("\n")
            reach = _reach(by_name[end], ux, uy)
            tw = max(len(s) for s in lines) * CHAR / 2
            th = len(lines) * (FONT + 2) / 2
            # Just outside the node, far enough along the link that the text clears its outline.
            along = min(reach + 4 + abs(ux) * tw + abs(uy) * th, d * 0.4)
            gap = beside(tw + 2, th + 1)
            put(sx + sign * ux * along + px * gap, sy + sign * uy * along + py * gap, lines, "end")
        mx, my = (ax + bx) / 2, (ay + by) / 2
        if e.partitioned or e.shape:
            lines = (["partitioned"] if e.partitioned else []) + ([e.shape] if e.shape else [])
            cls = "cut" if e.partitioned else "shape"
            gap = beside(max(len(t) for t in lines) * CHAR / 2 + 2, len(lines) * (FONT + 2) / 2 + 1)
            put(mx - px * gap, my - py * gap, lines, cls)
    for n in by_name.values():
        x, y = pos[n.name]
        lines = [n.name] + ([n.note] if n.note else [])
        w, h = _size(n)
        boxes.append((x - w, y - h, x + w, y + h))
        nodes_svg.append(
            f'<g class="node {n.kind}" id="{_e("node-" + n.name)}"><title>{_e(n.kind)} '
            f"{_e(n.name)}</title>{_shape(n.kind, x, y, w, h)}{_text(x, y, lines, 'name')}</g>"
        )
    legend = []
    lx = 0.0
    for kind in KINDS:
        legend.append(_shape(kind, lx + 12, 0, 12 if kind != "router" else 8, 8))
        legend.append(_text(lx + 30, 0, [kind], "legend", anchor="start"))
        lx += 30 + len(kind) * CHAR + 20
    legend.append(
        f'<line x1="{lx:.1f}" y1="0" x2="{lx + 28:.1f}" y2="0" stroke="#d32f2f" '
        'stroke-width="2.5" stroke-dasharray="9 6"/>'
    )
    legend.append(_text(lx + 34, 0, ["partitioned"], "legend", anchor="start"))
    lx += 34 + len("partitioned") * CHAR
    if boxes:
        x0 = min(b[0] for b in boxes) - MARGIN
        y0 = min(b[1] for b in boxes) - MARGIN
        x1 = max(b[2] for b in boxes) + MARGIN
        y1 = max(b[3] for b in boxes) + MARGIN
    else:
        x0, y0, x1, y1 = -MARGIN, -MARGIN, MARGIN, MARGIN
    top = y0 - (26 if title else 0)
    y1 += 34  # the legend
    width = max(x1 - x0, lx + 2 * MARGIN)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x0:.1f} {top:.1f} {width:.1f} '
        f'{y1 - top:.1f}" width="{width:.0f}" height="{y1 - top:.0f}" role="img" '
        f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{FONT}">'
    )
    body = [head, f'<rect x="{x0:.1f}" y="{top:.1f}" width="{width:.1f}" '
            f'height="{y1 - top:.1f}" fill="#fff"/>']
    if title:
        body.append(_text(x0 + MARGIN, top + 16, [title], "title", anchor="start"))
    body += lines_svg + labels + nodes_svg
    body.append(f'<g class="legend" transform="translate({x0 + MARGIN:.1f},{y1 - 20:.1f})">')
    body += legend
    body.append("</g></svg>")
    return "".join(body)


def topology_svg(t: Topology) -> str:
    """The picture of a ``pyns.testing.Topology``, as SVG (what ``_repr_svg_`` returns).

    Args:
        t: a topology (open or closed).

    Returns:
        The SVG text.
    """
    nodes = [Node(h.name, "router" if h.forwarding else "host") for h in t.hosts]
    nodes += [Node(s.name, "switch", str(s.subnet)) for s in t.switches]
    edges = []
    for v in t.links:
        ends = [
            "\n".join(x for x in (name, addr, addr6) if x)
            for name, addr, addr6 in zip(v.names, v.addresses, v.addresses6)
        ]
        edges.append(
            Edge(v.a.name, v.b.name, ends[0], ends[1], v.partitioned, shape_label(v._shape))
        )
    cuts = {(x.name, y.name) for x, y in t._cuts.pairs}  # cuts between any two nodes
    for a, b in sorted(cuts):
        if (b, a) in cuts and a > b:
            continue  # a two-way cut, drawn once
        edges.append(Edge(a, b, partitioned=True, shape="" if (b, a) in cuts else f"{a} → {b} only"))
    state = "closed, " if t.closed else ""
    title = f"Topology ({state}{len(nodes)} nodes, {len(t.links)} links)"
    return svg(nodes, edges, title=title)
