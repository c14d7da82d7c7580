"""pyns.testing: network topologies for system tests, and the pytest plugin.

    with pyns.testing.Topology() as t:
        a, b = t.host("a"), t.host("b")
        t.link(a, b, subnet="10.0.0.0/24")       # a gets 10.0.0.1, b 10.0.0.2
        server = b.spawn(["python3", "-m", "http.server", "8000"])
        a.run(fetch, "http://10.0.0.2:8000/")

Hosts are network + UTS namespaces held by file descriptors, with no process in them; links are
veth pairs born inside the hosts' namespaces; everything goes away when the topology is closed,
after an exception, and when the Python process dies (even by SIGKILL). The names below are
imported on first use, so that the pytest plugin (``pyns.testing.plugin``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Host", "Switch", "Topology", "Veth", "impairments"]

if TYPE_CHECKING:
    from .topology import Host, Switch, Topology, Veth, impairments


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import topology

        return getattr(topology, name)
    raise AttributeError(f"module 'pyns.testing' has no attribute {name!r}")
