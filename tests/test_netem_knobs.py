"""All of netem through pyns.net.shape and Topology.shape: distribution, loss correlation,
duplicates, reordering, corruption, limit. Here (a kernel without sch_netem) the arguments are
checked first (TypeError/ValueError naming them), then the shape is refused with an
UnsupportedError that names sch_netem, `modprobe sch_netem` and the package, with nothing
changed. Their effects are measured where netem exists: tests/test_kernel_netem.py, in the
kernel lane.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any, Callable

import pytest

import pyns
from pyns import net
from pyns.testing import Topology, impairments

pytestmark = pytest.mark.requires_root

NETEM_ONLY = dict(
    duplicate_pct=5, reorder_pct=10, corrupt_pct=1, limit=100, loss_correlation_pct=25,
    distribution="normal",
)


@pytest.fixture
def link(make_netns: Callable[[], pyns.Namespace]) -> pyns.Namespace:
    ns = make_netns()
    net.veth("v0", "v1", netns=ns)
    return ns


@pytest.mark.parametrize(
    "kw, error, words",
    [
        (dict(duplicate_pct="5"), TypeError, "duplicate_pct must be a number"),
        (dict(reorder_pct=True, delay_ms=5), TypeError, "reorder_pct must be a number"),
        (dict(corrupt_pct=101), ValueError, "corrupt_pct is a percentage from 0 to 100"),
        (dict(duplicate_pct=-1), ValueError, "duplicate_pct must be a finite number >= 0"),
        (dict(loss_pct=5, loss_correlation_pct=float("nan")), ValueError, "loss_correlation_pct"),
        (dict(loss_correlation_pct=10), ValueError, "loss_correlation_pct needs loss_pct"),
        (dict(reorder_pct=10), ValueError, "reorder_pct needs delay_ms > 0"),
        (dict(limit=1.5), TypeError, "limit must be an int"),
        (dict(limit=0), ValueError, "limit must be at least 1"),
        (dict(limit=2**40), ValueError, "limit must be from 1"),
        (dict(delay_ms=10, distribution=3), TypeError, "distribution must be a str"),
        (dict(delay_ms=10, jitter_ms=2, distribution="gauss"), ValueError, "'pareto'"),
        (dict(delay_ms=10, distribution="normal"), ValueError, "distribution needs jitter_ms"),
    ],
)
def test_bad_netem_settings_are_refused_by_name_first(link, kw: dict[str, Any], error, words) -> None:
    with pytest.raises(error, match=words):
        net.shape("v0", netns=link, **kw)
    with Topology() as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b)
        with pytest.raises(error, match=words):
            t.shape(a, b, **kw)


def qdiscs(host) -> list[str]:
    with host.enter():
        out = subprocess.run(["tc", "-j", "qdisc", "show", "dev", "eth0"],
                             capture_output=True, text=True, check=True)  # fmt: skip
    return [q["kind"] for q in json.loads(out.stdout)]


def test_without_netem_every_netem_knob_is_refused_before_anything_changes(
    topology: Topology, link
) -> None:
    if impairments()["duplicate_pct"]:
        pytest.skip("this kernel has netem")
    support = impairments()
    assert not any(support[k] for k in NETEM_ONLY) and support["rate_mbit"]
    a, b = topology.host("a"), topology.host("b")
    v = topology.link(a, b)
    topology.shape(a, b, rate_mbit=50)
    before = qdiscs(a)
    assert before == ["tbf"]
    for key, value in NETEM_ONLY.items():
        kw = dict({key: value}, delay_ms=20, jitter_ms=5, loss_pct=1)
        with pytest.raises(pyns.UnsupportedError) as e:
            topology.shape(a, b, **kw)
        for part in ("sch_netem", "modprobe sch_netem", "linux-image", key):
            assert part in str(e.value)
        with pytest.raises(pyns.UnsupportedError, match="sch_netem"):
            net.shape("v0", netns=link, **kw)
    assert qdiscs(a) == before and v._shape is not None and v._shape["rate_mbit"] == 50
    # The distribution tables are found where iproute2's tc finds them (a shape with one is
    # refused for netem, not for the table).
    with pytest.raises(pyns.UnsupportedError, match="distribution"):
        topology.shape(a, b, delay_ms=20, jitter_ms=5, distribution="paretonormal")
