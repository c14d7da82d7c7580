//! The natives behind `pyns.testing`: hosts, routers and switches (namespaces with a netlink
//! socket opened inside), their links, and their names under `/run/netns`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::namespace::PyNamespace;
use super::net::{valid_name, Netns};
use crate::sys::error::Result;
use crate::sys::net::addr::{self, Cidr};
use crate::sys::net::link::{self, Change, VethSetup};
use crate::sys::net::netns;
use crate::sys::net::node::{self, Spec};
use crate::sys::net::rtnl::Rtnl;
use crate::sys::net::sysctl;
use crate::sys::uts;

/// A topology node: new net (+ uts with `hostname`, + mnt) namespaces (see `node::create`),
/// `lo` up, forwarding on if asked, `mounts` made inside the mount namespace (ops as
/// `pyns.testing.etc` plans them, see `hostfs::op`), for a `switch` bridged MLD reports
/// dropped (`nftables`); returns (net, uts or None, mnt or None)
/// handles, the net one with a netlink socket opened inside (kept while fewer than
/// `MAX_CACHED` are, or if the thread could not open another there later).
#[pyfunction]
#[pyo3(signature = (hostname=None, mnt=false, forwarding=false, mounts=None, switch=false))]
pub fn net_node(
    py: Python<'_>,
    hostname: Option<String>,
    mnt: bool,
    forwarding: bool,
    mounts: Option<Vec<Bound<'_, PyAny>>>,
    switch: bool,
) -> PyResult<(PyNamespace, Option<PyNamespace>, Option<PyNamespace>)> {
    if let Some(h) = &hostname {
        uts::validate("hostname", h).map_err(PyValueError::new_err)?;
    }
    let mounts = mounts.unwrap_or_default();
    if !mnt && !mounts.is_empty() {
        return Err(PyValueError::new_err(
            "mounts need a mount namespace (mnt=True)",
        ));
    }
    let spec = Spec {
        hostname,
        mnt,
        forwarding,
        mounts: mounts
            .iter()
            .map(super::hostfs::op)
            .collect::<PyResult<_>>()?,
        switch,
    };
    let n = py.detach(|| node::create(&spec))?;
    let net = if n.reopenable {
        PyNamespace::with_spare_rtnl(n.net, n.rtnl)
    } else {
        PyNamespace::with_rtnl(n.net, n.rtnl)
    };
    Ok((
        net,
        n.uts.map(PyNamespace::wrap),
        n.mnt.map(PyNamespace::wrap),
    ))
}

/// A new UTS namespace with `hostname` set (see `node::uts`), for a node made without one.
#[pyfunction]
pub fn net_node_uts(py: Python<'_>, hostname: String) -> PyResult<PyNamespace> {
    uts::validate("hostname", &hostname).map_err(PyValueError::new_err)?;
    Ok(PyNamespace::wrap(py.detach(|| node::uts(&hostname))?))
}

/// Names a network namespace under `/run/netns` (as `ip netns add` would have).
#[pyfunction]
pub fn netns_persist(py: Python<'_>, ns: PyRef<'_, PyNamespace>, name: &str) -> PyResult<()> {
    netns::validate_name(name).map_err(PyValueError::new_err)?;
    let ns = ns.get()?;
    Ok(py.detach(|| netns::persist(&ns, name))?)
}

/// Brings the link `name` up (if `up`) and gives it `cidrs`.
fn configure(r: &mut Rtnl, name: &str, up: bool, cidrs: &[Cidr]) -> Result<()> {
    if up {
        let change = Change {
            up: Some(true),
            ..Change::default()
        };
        link::change(r, name, &change)?;
    }
    if cidrs.is_empty() {
        return Ok(());
    }
    let index = link::index(r, name)?;
    cidrs.iter().try_for_each(|c| addr::add(r, index, name, c))
}

/// A topology link in four requests: a veth `name` in `netns`, up and enslaved to the bridge
/// `master`, whose peer `peer` is born in `peer_netns`, with `mtu` on both ends; `cidr` on the
/// first end; the peer up with `peer_cidr`; `cidr6`/`peer_cidr6`: a second (IPv6) address of
/// each end.
#[pyfunction]
#[pyo3(signature = (name, peer, netns, peer_netns, cidr=None, peer_cidr=None, mtu=None,
                    master=None, cidr6=None, peer_cidr6=None))]
#[allow(clippy::too_many_arguments)]
pub fn net_wire(
    py: Python<'_>,
    name: &str,
    peer: &str,
    netns: &Bound<'_, PyAny>,
    peer_netns: &Bound<'_, PyAny>,
    cidr: Option<&str>,
    peer_cidr: Option<&str>,
    mtu: Option<u32>,
    master: Option<&str>,
    cidr6: Option<&str>,
    peer_cidr6: Option<&str>,
) -> PyResult<()> {
    valid_name("name", name)?;
    valid_name("peer", peer)?;
    if let Some(m) = master {
        valid_name("master", m)?;
    }
    let parse = |cs: [Option<&str>; 2]| {
        cs.into_iter()
            .flatten()
            .map(Cidr::parse)
            .collect::<std::result::Result<Vec<Cidr>, String>>()
            .map_err(PyValueError::new_err)
    };
    let (cidrs, peer_cidrs) = (parse([cidr, cidr6])?, parse([peer_cidr, peer_cidr6])?);
    let here = Netns::resolve(Some(netns), "netns")?;
    let there = Netns::resolve(Some(peer_netns), "peer_netns")?;
    let (t, pt) = (here.target()?, there.target()?);
    py.detach(|| {
        t.rtnl(|r| {
            let master = master.map(|m| link::index(r, m)).transpose()?;
            let setup = VethSetup {
                up: true,
                mtu,
                master,
            };
            link::add_veth_with(r, name, peer, pt.fd(), &setup)?;
            configure(r, name, false, &cidrs)
        })?;
        pt.rtnl(|r| configure(r, peer, true, &peer_cidrs))
    })
    .map_err(|e| e.into())
}

/// A topology's lease on the procfs instance its nodes' sysctls are written through
/// (`sysctl::Lease`): the instance is kept while a lease is held; `release` (or the lease's
/// end) gives it back.
#[pyclass(name = "ProcfsLease", module = "pyns._native", frozen)]
pub struct ProcfsLease(sysctl::Lease);

#[pymethods]
impl ProcfsLease {
    #[new]
    fn new() -> Self {
        ProcfsLease(sysctl::Lease::take())
    }

    /// Gives the lease back; a second call does nothing.
    fn release(&self) {
        self.0.give_back();
    }
}
