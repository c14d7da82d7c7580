//! The natives behind `pyns.net` and `pyns.netns`: arguments checked, the target network
//! namespace resolved, rtnetlink requests made with the GIL released, results as `Link`,
//! `Addr` and `Route` objects.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use pyo3::exceptions::{PyLookupError, PyValueError};
use pyo3::prelude::*;

use super::errors::annotate;
use super::namespace::PyNamespace;
use super::netinfo::{Addr, Link, Route};
use super::quote;
use super::target::{self, Resolved};
use crate::sys::error::{Error, Result};
use crate::sys::net::addr::{self, Cidr};
use crate::sys::net::link::{self, Change};
use crate::sys::net::route::{self, Spec};
use crate::sys::net::rtnl::{Rtnl, RtnlCache};
use crate::sys::net::{loopback_up_in, netns};
use crate::sys::ns::{Kind, Namespace};

/// Where requests go: the calling thread's network namespace, a `Namespace` handle's (through
/// its cached socket; the `Arc` keeps its fd open for the call even if another thread closes
/// the handle), or a namespace opened for this one call (pid, path or name).
pub(super) enum Netns<'py> {
    Current,
    Handle(PyRef<'py, PyNamespace>, Arc<Namespace>),
    Opened(Namespace),
}

impl<'py> Netns<'py> {
    /// Resolves a `netns=` argument: None (the calling thread's), else any namespace target
    /// (`target::resolve`).
    pub(super) fn resolve(obj: Option<&Bound<'py, PyAny>>, what: &str) -> PyResult<Netns<'py>> {
        let Some(obj) = obj.filter(|o| !o.is_none()) else {
            return Ok(Netns::Current);
        };
        Ok(match target::resolve(obj, Some(Kind::Net), what)? {
            Resolved::Given(h) => {
                let ns = h.get().get()?;
                Netns::Handle(h.borrow(), ns)
            }
            Resolved::Opened(ns) => Netns::Opened(ns),
        })
    }

    pub(super) fn target(&self) -> PyResult<Target<'_>> {
        Ok(match self {
            Netns::Current => Target {
                ns: None,
                cache: None,
            },
            Netns::Handle(h, ns) => Target {
                ns: Some(ns),
                cache: Some(h.rtnl()),
            },
            Netns::Opened(ns) => Target {
                ns: Some(ns),
                cache: None,
            },
        })
    }

    fn given(&self) -> bool {
        !matches!(self, Netns::Current)
    }
}

/// The resolved namespace, in a form that can cross `py.detach`.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    ns: Option<&'a Namespace>,
    cache: Option<&'a RtnlCache>,
}

impl Target<'_> {
    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.ns.map(|n| n.as_fd())
    }

    /// Runs `f` with a NETLINK_ROUTE socket inside the namespace.
    pub(super) fn rtnl<R>(&self, f: impl FnOnce(&mut Rtnl) -> Result<R>) -> Result<R> {
        match (self.ns, self.cache) {
            (None, _) => f(&mut Rtnl::open()?),
            (Some(ns), Some(c)) => c.with(ns.as_fd(), f),
            (Some(ns), None) => f(&mut Rtnl::open_in(ns.as_fd())?),
        }
    }
}

pub(super) fn valid_name(what: &str, name: &str) -> PyResult<()> {
    link::validate_name(what, name).map_err(PyValueError::new_err)
}

/// `e` as a LookupError (with `.errno` and the request as a note) when its errno is `errno`,
/// else as the usual OSError.
fn not_found(py: Python<'_>, e: Error, errno: i32, msg: impl FnOnce() -> String) -> PyErr {
    if e.errno != errno {
        return e.into();
    }
    let err = PyLookupError::new_err(msg());
    let _ = err.value(py).setattr("errno", errno);
    annotate(py, &err, &e);
    err
}

pub(super) fn no_link(py: Python<'_>, e: Error, name: &str) -> PyErr {
    not_found(py, e, libc::ENODEV, || {
        format!("no link named {} in this network namespace", quote(name))
    })
}

/// The link named `name`, with its master's name looked up.
fn get_link(r: &mut Rtnl, name: &str) -> Result<Link> {
    let l = link::get(r, name)?;
    let master = match l.master {
        Some(i) => Some(link::get_by_index(r, i)?.name),
        None => None,
    };
    Ok(Link::from_sys(l, master))
}

/// The link named `name`.
#[pyfunction]
#[pyo3(signature = (name, netns=None))]
pub fn net_link(py: Python<'_>, name: &str, netns: Option<&Bound<'_, PyAny>>) -> PyResult<Link> {
    valid_name("name", name)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    py.detach(|| t.rtnl(|r| get_link(r, name)))
        .map_err(|e| no_link(py, e, name))
}

/// Every link.
#[pyfunction]
#[pyo3(signature = (netns=None))]
pub fn net_links(py: Python<'_>, netns: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Link>> {
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let links = py.detach(|| t.rtnl(link::dump))?;
    let names: HashMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();
    Ok(links
        .into_iter()
        .map(|l| {
            let master = l.master.and_then(|i| names.get(&i).cloned());
            Link::from_sys(l, master)
        })
        .collect())
}

/// A veth pair; the peer is born in `peer_netns` (default: where the first end is).
#[pyfunction]
#[pyo3(signature = (name, peer, peer_netns=None, netns=None))]
pub fn net_veth(
    py: Python<'_>,
    name: &str,
    peer: &str,
    peer_netns: Option<&Bound<'_, PyAny>>,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Link, Link)> {
    valid_name("name", name)?;
    valid_name("peer", peer)?;
    let netns = Netns::resolve(netns, "netns")?;
    let peer_ns = Netns::resolve(peer_netns, "peer_netns")?;
    if name == peer && !peer_ns.given() {
        return Err(PyValueError::new_err(format!(
            "both ends of the veth are named {}; in one namespace they need two names",
            quote(name)
        )));
    }
    let t = netns.target()?;
    let elsewhere = peer_ns.given();
    let pt = if elsewhere { peer_ns.target()? } else { t };
    py.detach(|| {
        t.rtnl(|r| link::add_veth(r, name, peer, if elsewhere { pt.fd() } else { None }))?;
        let a = t.rtnl(|r| get_link(r, name))?;
        let b = pt.rtnl(|r| get_link(r, peer))?;
        Ok((a, b))
    })
    .map_err(|e: Error| e.into())
}

/// A bridge.
#[pyfunction]
#[pyo3(signature = (name, netns=None))]
pub fn net_bridge(py: Python<'_>, name: &str, netns: Option<&Bound<'_, PyAny>>) -> PyResult<Link> {
    valid_name("name", name)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    py.detach(|| {
        t.rtnl(|r| {
            link::add_bridge(r, name)?;
            get_link(r, name)
        })
    })
    .map_err(|e: Error| e.into())
}

/// Changes a link; with `move_to`, the link moves first and the other changes apply there.
#[pyfunction]
#[pyo3(signature = (name, netns=None, up=None, mtu=None, mac=None, master=None, nomaster=false,
                    move_to=None, rename=None))]
#[allow(clippy::too_many_arguments)]
pub fn net_set_link(
    py: Python<'_>,
    name: &str,
    netns: Option<&Bound<'_, PyAny>>,
    up: Option<bool>,
    mtu: Option<i64>,
    mac: Option<&str>,
    master: Option<&str>,
    nomaster: bool,
    move_to: Option<&Bound<'_, PyAny>>,
    rename: Option<&str>,
) -> PyResult<()> {
    valid_name("name", name)?;
    if let Some(m) = master {
        valid_name("master", m)?;
    }
    if let Some(n) = rename {
        valid_name("rename", n)?;
    }
    if master.is_some() && nomaster {
        return Err(PyValueError::new_err(
            "give master= or nomaster=True, not both",
        ));
    }
    let mtu = mtu.map(|m| u32_arg("mtu", m, 1)).transpose()?;
    let mac = mac
        .map(link::parse_mac)
        .transpose()
        .map_err(PyValueError::new_err)?;
    let netns = Netns::resolve(netns, "netns")?;
    let dest = Netns::resolve(move_to, "move_to")?;
    let t = netns.target()?;
    let moving = dest.given();
    let here = if moving { dest.target()? } else { t };
    let rest = up.is_some() || mtu.is_some() || mac.is_some() || master.is_some() || nomaster;
    let mut current = name;
    if moving || rename.is_some() {
        let index = match rename {
            Some(_) => Some(
                py.detach(|| t.rtnl(|r| link::index(r, name)))
                    .map_err(|e| no_link(py, e, name))?,
            ),
            None => None,
        };
        let first = Change {
            rename,
            netns: if moving { here.fd() } else { None },
            ..Change::default()
        };
        py.detach(|| t.rtnl(|r| link::change(r, name, index, &first)))
            .map_err(|e| no_link(py, e, name))?;
        current = rename.unwrap_or(name);
    }
    if !rest {
        return Ok(());
    }
    let master_index = match master {
        Some(m) => Some(
            py.detach(|| here.rtnl(|r| link::index(r, m)))
                .map_err(|e| no_link(py, e, m))?,
        ),
        None if nomaster => Some(0),
        None => None,
    };
    let change = Change {
        up,
        mtu,
        mac,
        master: master_index,
        ..Change::default()
    };
    py.detach(|| here.rtnl(|r| link::change(r, current, None, &change)))
        .map_err(|e| no_link(py, e, current))
}

/// Deletes a link (both ends of a veth).
#[pyfunction]
#[pyo3(signature = (name, netns=None))]
pub fn net_delete_link(
    py: Python<'_>,
    name: &str,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    valid_name("name", name)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    py.detach(|| t.rtnl(|r| link::delete(r, name)))
        .map_err(|e| no_link(py, e, name))
}

fn parse_cidr(cidr: &str) -> PyResult<Cidr> {
    Cidr::parse(cidr).map_err(PyValueError::new_err)
}

/// Adds an address to a link.
#[pyfunction]
#[pyo3(signature = (name, cidr, netns=None))]
pub fn net_add_addr(
    py: Python<'_>,
    name: &str,
    cidr: &str,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    valid_name("name", name)?;
    let cidr = parse_cidr(cidr)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    py.detach(|| {
        t.rtnl(|r| {
            let index = link::index(r, name)?;
            addr::add(r, index, name, &cidr)
        })
    })
    .map_err(|e| no_link(py, e, name))
}

/// Removes an address from a link.
#[pyfunction]
#[pyo3(signature = (name, cidr, netns=None))]
pub fn net_del_addr(
    py: Python<'_>,
    name: &str,
    cidr: &str,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    valid_name("name", name)?;
    let cidr = parse_cidr(cidr)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let index = py
        .detach(|| t.rtnl(|r| link::index(r, name)))
        .map_err(|e| no_link(py, e, name))?;
    py.detach(|| t.rtnl(|r| addr::delete(r, index, name, &cidr)))
        .map_err(|e| {
            not_found(py, e, libc::EADDRNOTAVAIL, || {
                format!("{} has no address {cidr}", quote(name))
            })
        })
}

/// The addresses of one link or of all.
#[pyfunction]
#[pyo3(signature = (name=None, netns=None))]
pub fn net_addrs(
    py: Python<'_>,
    name: Option<&str>,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<Addr>> {
    if let Some(n) = name {
        valid_name("name", n)?;
    }
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let (names, addrs) = py
        .detach(|| {
            t.rtnl(|r| {
                let names: HashMap<u32, String> = match name {
                    Some(n) => [(link::index(r, n)?, n.to_owned())].into(),
                    None => link::dump(r)?
                        .into_iter()
                        .map(|l| (l.index, l.name))
                        .collect(),
                };
                let only = name.and_then(|_| names.keys().next().copied());
                Ok((names, addr::dump(r, only)?))
            })
        })
        .map_err(|e| no_link(py, e, name.unwrap_or_default()))?;
    Ok(addrs
        .into_iter()
        .map(|a| {
            let link = names.get(&a.index).cloned().unwrap_or_default();
            Addr::from_sys(a, link)
        })
        .collect())
}

fn route_spec(
    dst: &str,
    via: Option<&str>,
    dev: Option<&str>,
    metric: Option<i64>,
) -> PyResult<Spec> {
    if let Some(d) = dev {
        valid_name("dev", d)?;
    }
    let metric = metric.map(|m| u32_arg("metric", m, 0)).transpose()?;
    Spec::parse(dst, via, metric).map_err(PyValueError::new_err)
}

/// An integer argument that the kernel takes as a u32, at least `min`.
fn u32_arg(what: &str, value: i64, min: u32) -> PyResult<u32> {
    u32::try_from(value)
        .ok()
        .filter(|v| *v >= min)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{what} must be between {min} and {}, not {value}",
                u32::MAX
            ))
        })
}

fn with_oif(t: Target<'_>, py: Python<'_>, mut spec: Spec, dev: Option<&str>) -> PyResult<Spec> {
    if let Some(d) = dev {
        let index = py
            .detach(|| t.rtnl(|r| link::index(r, d)))
            .map_err(|e| no_link(py, e, d))?;
        spec.oif = Some(index);
    }
    Ok(spec)
}

/// Adds a route to the main table.
#[pyfunction]
#[pyo3(signature = (dst, via=None, dev=None, metric=None, netns=None))]
pub fn net_add_route(
    py: Python<'_>,
    dst: &str,
    via: Option<&str>,
    dev: Option<&str>,
    metric: Option<i64>,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let spec = route_spec(dst, via, dev, metric)?;
    if via.is_none() && dev.is_none() {
        return Err(PyValueError::new_err(format!(
            "a route to {dst} needs via= (a gateway) or dev= (a link), or both"
        )));
    }
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let spec = with_oif(t, py, spec, dev)?;
    Ok(py.detach(|| t.rtnl(|r| route::add(r, &spec)))?)
}

/// Deletes a route from the main table.
#[pyfunction]
#[pyo3(signature = (dst, via=None, dev=None, metric=None, netns=None))]
pub fn net_del_route(
    py: Python<'_>,
    dst: &str,
    via: Option<&str>,
    dev: Option<&str>,
    metric: Option<i64>,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let spec = route_spec(dst, via, dev, metric)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let spec = with_oif(t, py, spec, dev)?;
    py.detach(|| t.rtnl(|r| route::delete(r, &spec)))
        .map_err(|e| {
            not_found(py, e, libc::ESRCH, || {
                format!("no such route to {} in the main table", spec.describe())
            })
        })
}

/// The routes of the main table.
#[pyfunction]
#[pyo3(signature = (netns=None))]
pub fn net_routes(py: Python<'_>, netns: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Route>> {
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let (links, routes) = py.detach(|| t.rtnl(|r| Ok((link::dump(r)?, route::dump(r)?))))?;
    let names: HashMap<u32, String> = links.into_iter().map(|l| (l.index, l.name)).collect();
    Ok(routes
        .into_iter()
        .map(|r| {
            let dev = r.oif.and_then(|i| names.get(&i).cloned());
            Route::from_sys(r, dev)
        })
        .collect())
}

/// Brings `lo` up.
#[pyfunction]
#[pyo3(signature = (netns=None))]
pub fn net_loopback_up(py: Python<'_>, netns: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    Ok(py.detach(|| loopback_up_in(t.fd()))?)
}

/// Creates a named network namespace (`ip netns add`).
#[pyfunction]
pub fn netns_add(py: Python<'_>, name: &str) -> PyResult<PyNamespace> {
    netns::validate_name(name).map_err(PyValueError::new_err)?;
    Ok(PyNamespace::wrap(py.detach(|| netns::add(name))?))
}

/// Removes a named network namespace (`ip netns delete`).
#[pyfunction]
pub fn netns_remove(py: Python<'_>, name: &str) -> PyResult<()> {
    netns::validate_name(name).map_err(PyValueError::new_err)?;
    Ok(py.detach(|| netns::remove(name))?)
}

/// `/run/netns/<name>`, once the name is checked.
#[pyfunction]
pub fn netns_path(name: &str) -> PyResult<String> {
    netns::validate_name(name).map_err(PyValueError::new_err)?;
    Ok(netns::path(name).to_string_lossy().into_owned())
}
