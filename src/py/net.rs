//! The natives behind `pyns.net` and `pyns.netns`: arguments checked, the target network
//! namespace resolved, rtnetlink requests made with the GIL released, results as `Link`,
//! `Addr` and `Route` objects.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use pyo3::exceptions::{PyLookupError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};

use super::errors::{add_note, check_pid};
use super::namespace::PyNamespace;
use super::netinfo::{Addr, Link, Route};
use super::quote;
use crate::sys::error::{Error, Result};
use crate::sys::net::addr::{self, Cidr};
use crate::sys::net::link::{self, Change};
use crate::sys::net::route::{self, Spec};
use crate::sys::net::rtnl::{Rtnl, RtnlCache};
use crate::sys::net::{loopback_up_in, netns};
use crate::sys::ns::{Kind, Namespace};

/// Where requests go: the calling thread's network namespace, a `Namespace` handle's (through
/// its cached socket), or a namespace opened for this one call (pid, path or name).
pub(super) enum Netns<'py> {
    Current,
    Handle(PyRef<'py, PyNamespace>),
    Opened(Namespace),
}

impl<'py> Netns<'py> {
    /// Resolves a `netns=` argument: None, a `Namespace`, a pid, an object with a `.pid`, an
    /// nsfs path, or an iproute2 name (a str without '/').
    pub(super) fn resolve(obj: Option<&Bound<'py, PyAny>>, what: &str) -> PyResult<Netns<'py>> {
        let Some(obj) = obj.filter(|o| !o.is_none()) else {
            return Ok(Netns::Current);
        };
        if let Ok(h) = obj.cast::<PyNamespace>() {
            let h = h.borrow();
            if h.kind_of() != Kind::Net {
                return Err(PyValueError::new_err(format!(
                    "{what} must be a network namespace, not a {} namespace",
                    h.kind_of().name()
                )));
            }
            h.get()?;
            return Ok(Netns::Handle(h));
        }
        let path = if obj.is_instance_of::<PyBool>() {
            None
        } else if let Ok(pid) = obj.extract::<i64>() {
            return Ok(Netns::Opened(Namespace::of(check_pid(pid)?, Kind::Net)?));
        } else if obj.is_instance_of::<PyString>() {
            let s: String = obj.extract()?;
            if s.contains('/') {
                Some(PathBuf::from(s))
            } else {
                netns::validate_name(&s).map_err(PyValueError::new_err)?;
                Some(netns::path(&s))
            }
        } else if let Ok(p) = obj.extract::<PathBuf>() {
            Some(p)
        } else if let Ok(pid) = obj.getattr("pid").and_then(|p| p.extract::<i64>()) {
            return Ok(Netns::Opened(Namespace::of(check_pid(pid)?, Kind::Net)?));
        } else {
            None
        };
        match path {
            Some(p) => Ok(Netns::Opened(Namespace::open(&p, Some(Kind::Net))?)),
            None => Err(PyTypeError::new_err(format!(
                "{what} must be a pyns.Namespace, a pid, a process, an nsfs path or a network \
                 namespace name, not {}",
                obj.get_type().name()?
            ))),
        }
    }

    pub(super) fn target(&self) -> PyResult<Target<'_>> {
        Ok(match self {
            Netns::Current => Target {
                ns: None,
                cache: None,
            },
            Netns::Handle(h) => Target {
                ns: Some(h.get()?),
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
    add_note(py, &err, &format!("pyns was doing: {}", e.op));
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

/// Changes a link in one request, all or nothing; with `move_to`, the link moves first and
/// the other changes apply there. Everything that can be checked is checked before: the
/// arguments, the link, the master (a link that takes ports), a free new name, the MTU range.
#[pyfunction]
#[pyo3(signature = (name, netns=None, up=None, mtu=None, mac=None, master=None, nomaster=false,
                    move_to=None, rename=None))]
#[allow(clippy::too_many_arguments)]
pub fn net_set_link(
    py: Python<'_>,
    name: &str,
    netns: Option<&Bound<'_, PyAny>>,
    up: Option<bool>,
    mtu: Option<&Bound<'_, PyAny>>,
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
    let before = py
        .detach(|| t.rtnl(|r| link::get(r, name)))
        .map_err(|e| no_link(py, e, name))?;
    if let Some(m) = mtu {
        check_mtu(name, &before, m)?;
    }
    let master_index = match master {
        Some(m) => {
            let l = py
                .detach(|| here.rtnl(|r| link::get(r, m)))
                .map_err(|e| no_link(py, e, m))?;
            check_master(name, &before, &l, moving)?;
            Some(l.index)
        }
        None if nomaster => Some(0),
        None => None,
    };
    let rename = rename.filter(|n| moving || *n != name);
    if let (Some(n), false) = (rename, moving) {
        match py.detach(|| t.rtnl(|r| link::index(r, n))) {
            Ok(_) => {
                return Err(Error::new(
                    format!("RTM_NEWLINK {name}: renaming it to {n}, a name taken already"),
                    libc::EEXIST,
                )
                .needs("CAP_NET_ADMIN")
                .into())
            }
            Err(e) if e.errno == libc::ENODEV => {}
            Err(e) => return Err(e.into()),
        }
    }
    let change = Change {
        up,
        mtu,
        mac,
        master: master_index,
        rename,
        netns: if moving { here.fd() } else { None },
    };
    if up.is_none()
        && mtu.is_none()
        && mac.is_none()
        && master_index.is_none()
        && rename.is_none()
        && !moving
    {
        return Ok(()); // nothing to change
    }
    py.detach(|| {
        if moving {
            t.rtnl(|r| here.rtnl(|d| link::set(r, &before, &change, Some((d, t.fd())))))
        } else {
            t.rtnl(|r| link::set(r, &before, &change, None))
        }
    })
    .map_err(|e| no_link(py, e, name))
}

/// A ValueError if the device does not take `mtu` (its IFLA_MIN_MTU..IFLA_MAX_MTU).
fn check_mtu(name: &str, l: &link::Link, mtu: u32) -> PyResult<()> {
    // A max_mtu of 0 means no limit (dev_validate_mtu).
    let max = l.max_mtu.filter(|m| *m > 0).unwrap_or(u32::MAX);
    let min = l.min_mtu.unwrap_or(0);
    if (min..=max).contains(&mtu) {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "mtu must be between {min} and {max} for {} ({}), not {mtu}",
        quote(name),
        describe(l)
    )))
}

/// A ValueError unless `master` can take the link `l` as a port.
fn check_master(name: &str, l: &link::Link, master: &link::Link, moving: bool) -> PyResult<()> {
    let kind = master.kind.as_deref().unwrap_or_default();
    if !link::MASTER_KINDS.contains(&kind) {
        return Err(PyValueError::new_err(format!(
            "master {} is {}, not a link that takes ports ({})",
            quote(&master.name),
            describe(master),
            link::MASTER_KINDS.join(", ")
        )));
    }
    if !moving && master.index == l.index {
        return Err(PyValueError::new_err(format!(
            "{} cannot be its own master",
            quote(name)
        )));
    }
    Ok(())
}

/// "a veth", or "a device of no kind" for `lo` and physical devices.
fn describe(l: &link::Link) -> String {
    match &l.kind {
        Some(k) => format!("a {k}"),
        None => "a device of no kind".into(),
    }
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
    metric: Option<&Bound<'_, PyAny>>,
) -> PyResult<Spec> {
    if let Some(d) = dev {
        valid_name("dev", d)?;
    }
    let metric = metric.map(|m| u32_arg("metric", m, 0)).transpose()?;
    Spec::parse(dst, via, metric).map_err(PyValueError::new_err)
}

/// An integer argument that the kernel takes as a u32, at least `min`: a TypeError for what
/// is not an int (a bool is not a number here), a ValueError naming `what` out of range.
pub(super) fn u32_arg(what: &str, value: &Bound<'_, PyAny>, min: u32) -> PyResult<u32> {
    let py = value.py();
    if !value.is_instance_of::<PyBool>() {
        match value.extract::<u32>() {
            Ok(v) if v >= min => return Ok(v),
            Err(e) if !e.is_instance_of::<PyOverflowError>(py) => {}
            _ => {
                return Err(PyValueError::new_err(format!(
                    "{what} must be between {min} and {}, not {}",
                    u32::MAX,
                    value.repr()?
                )))
            }
        }
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be an int, not {}",
        value.get_type().name()?
    )))
}

/// A number argument as an f64: a TypeError for what is not a number (nor a bool), a
/// ValueError naming `what` for an int too large for a float.
pub(super) fn f64_arg(what: &str, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    let py = value.py();
    if !value.is_instance_of::<PyBool>() {
        match value.extract::<f64>() {
            Ok(v) => return Ok(v),
            Err(e) if e.is_instance_of::<PyOverflowError>(py) => {
                return Err(PyValueError::new_err(format!(
                    "{what} must be a finite number, not {}",
                    value.repr()?
                )))
            }
            Err(_) => {}
        }
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be a number, not {}",
        value.get_type().name()?
    )))
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
    metric: Option<&Bound<'_, PyAny>>,
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
    metric: Option<&Bound<'_, PyAny>>,
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
