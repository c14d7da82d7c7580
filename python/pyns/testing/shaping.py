"""What ``Topology.shape`` can do on this kernel, and loss without netem.

netem (``sch_netem``) gives delay, jitter, loss, duplicates, reordering and corruption; many
kernels (this project's CI machine among them) lack it. Loss then comes from a cls_bpf classifier that pyns loads with bpf(2)
and attaches by netlink at a link's egress under a ``clsact`` qdisc: it drops a packet when
``bpf_get_prandom_u32()`` falls below the loss share (TC_ACT_SHOT), else lets it pass. Rates
use tbf, which every kernel has. The rest of netem has no such substitute.
"""

from __future__ import annotations

import functools

from .. import _native, net
from ..errors import UnsupportedError

#: What to tell someone whose kernel has no netem.
NO_NETEM = (
    "this kernel has no netem qdisc (sch_netem): load it with `modprobe sch_netem`; the module "
    "ships with the kernel's package (Debian: linux-image-$(uname -r); Ubuntu: "
    "linux-modules-extra-$(uname -r)), or build the kernel with CONFIG_NET_SCH_NETEM"
)


@functools.lru_cache(maxsize=None)
def _probe() -> tuple[bool, bool, bool]:
    """(netem, tbf, bpf loss) as found by trying each on `lo` of a throwaway namespace."""
    try:
        ns = _native.net_node(None, False, False)[0]
    except OSError:
        return False, False, False
    found = []
    with ns:
        for attempt in (
            lambda: net.shape("lo", delay_ms=1, netns=ns),
            lambda: net.shape("lo", rate_mbit=1, netns=ns),
            lambda: _native.net_bpf_loss("lo", 50.0, ns),
        ):
            try:
                attempt()
                found.append(True)
            except (OSError, UnsupportedError):
                found.append(False)
    return found[0], found[1], found[2]


def netem() -> bool:
    """Whether this kernel has netem (probed once)."""
    return _probe()[0]


#: The keywords of ``Topology.shape`` that only netem gives.
NETEM_ONLY = (
    "delay_ms", "jitter_ms", "distribution", "loss_correlation_pct", "duplicate_pct",
    "reorder_pct", "corrupt_pct", "limit",
)


def impairments() -> dict[str, bool]:
    """Which knobs of ``Topology.shape`` work on this kernel (probed once, in a throwaway
    network namespace).

    Returns:
        ``{"delay_ms": ..., "jitter_ms": ..., "distribution": ..., "loss_pct": ...,
        "loss_correlation_pct": ..., "duplicate_pct": ..., "reorder_pct": ...,
        "corrupt_pct": ..., "limit": ..., "rate_mbit": ...}``: all but loss and rate need
        netem; loss needs netem or bpf(2) (CAP_BPF, so not in a user namespace); rate needs
        tbf.
    """
    has_netem, tbf, bpf = _probe()
    out = dict.fromkeys(NETEM_ONLY, has_netem)
    out["loss_pct"] = has_netem or bpf
    out["rate_mbit"] = tbf
    return out
