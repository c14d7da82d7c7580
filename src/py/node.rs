//! The native behind `pyns.testing`'s hosts, routers and switches: namespaces made on a helper
//! thread, with a netlink socket opened inside.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::namespace::PyNamespace;
use crate::sys::net::netns;
use crate::sys::net::node::{self, Spec};
use crate::sys::uts;

/// A topology node: new net (+ uts with `hostname`, + mnt) namespaces made on a helper thread,
/// `lo` up, forwarding on if asked; returns (net, uts or None, mnt or None) handles, the net
/// one with a netlink socket opened inside.
#[pyfunction]
#[pyo3(signature = (hostname=None, mnt=false, forwarding=false))]
pub fn net_node(
    py: Python<'_>,
    hostname: Option<String>,
    mnt: bool,
    forwarding: bool,
) -> PyResult<(PyNamespace, Option<PyNamespace>, Option<PyNamespace>)> {
    if let Some(h) = &hostname {
        uts::validate("hostname", h).map_err(PyValueError::new_err)?;
    }
    let spec = Spec {
        hostname,
        mnt,
        forwarding,
    };
    let n = py.detach(|| node::create(&spec))?;
    Ok((
        PyNamespace::with_rtnl(n.net, n.rtnl),
        n.uts.map(PyNamespace::wrap),
        n.mnt.map(PyNamespace::wrap),
    ))
}

/// Names a network namespace under `/run/netns` (as `ip netns add` would have).
#[pyfunction]
pub fn netns_persist(py: Python<'_>, ns: PyRef<'_, PyNamespace>, name: &str) -> PyResult<()> {
    netns::validate_name(name).map_err(PyValueError::new_err)?;
    let ns = ns.get()?;
    Ok(py.detach(|| netns::persist(ns, name))?)
}
