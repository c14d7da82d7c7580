//! `pyns.net.Link`, `Addr` and `Route`: what the kernel reports, as immutable, comparable,
//! picklable Python objects whose repr is a Python literal.

use pyo3::prelude::*;
use pyo3::types::PyType;

use super::quote;
use crate::sys::net::addr::{self, scope_name};
use crate::sys::net::link;
use crate::sys::net::route::{self, protocol_name, type_name};

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "None".to_owned(), quote)
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// A network interface as the kernel reports it.
///
/// Attributes:
///     name: the interface name.
///     index: the interface index (unique within its namespace).
///     kind: "veth", "bridge", ...; None for lo and physical devices.
///     mac: the hardware address, "02:00:00:00:00:01".
///     mtu: the MTU in bytes.
///     up: administratively up (IFF_UP).
///     master: the name of the bridge it is attached to, or None.
#[pyclass(module = "pyns.net", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Link {
    name: String,
    index: u32,
    kind: Option<String>,
    mac: Option<String>,
    mtu: u32,
    up: bool,
    master: Option<String>,
}

impl Link {
    /// The Python object for `l`, whose master (if any) is named `master`.
    pub fn from_sys(l: link::Link, master: Option<String>) -> Link {
        Link {
            name: l.name,
            index: l.index,
            kind: l.kind,
            mac: l.mac,
            mtu: l.mtu,
            up: l.up,
            master,
        }
    }
}

type LinkArgs = (
    String,
    u32,
    Option<String>,
    Option<String>,
    u32,
    bool,
    Option<String>,
);

#[pymethods]
impl Link {
    #[new]
    #[pyo3(signature = (name, index, kind, mac, mtu, up, master))]
    fn new(
        name: String,
        index: u32,
        kind: Option<String>,
        mac: Option<String>,
        mtu: u32,
        up: bool,
        master: Option<String>,
    ) -> Link {
        Link {
            name,
            index,
            kind,
            mac,
            mtu,
            up,
            master,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Link(name={}, index={}, kind={}, mac={}, mtu={}, up={}, master={})",
            quote(&self.name),
            self.index,
            opt(&self.kind),
            opt(&self.mac),
            self.mtu,
            py_bool(self.up),
            opt(&self.master)
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> (Bound<'py, PyType>, LinkArgs) {
        let l = slf.get().clone();
        (
            slf.get_type(),
            (l.name, l.index, l.kind, l.mac, l.mtu, l.up, l.master),
        )
    }
}

/// An IP address of an interface.
///
/// Attributes:
///     link: the interface's name.
///     index: the interface's index.
///     family: "inet" or "inet6".
///     address: the address, "10.1.1.1".
///     prefixlen: the prefix length, 24.
///     scope: "global", "link", "host", ...
///     cidr: the address in CIDR form, "10.1.1.1/24".
///     interface: the same as an ipaddress.IPv4Interface / IPv6Interface.
#[pyclass(module = "pyns.net", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Addr {
    link: String,
    index: u32,
    family: String,
    address: String,
    prefixlen: u8,
    scope: String,
}

impl Addr {
    /// The Python object for `a`, on the link named `link`.
    pub fn from_sys(a: addr::Addr, link: String) -> Addr {
        Addr {
            link,
            index: a.index,
            family: family(a.cidr.version()),
            address: a.cidr.addr.to_string(),
            prefixlen: a.cidr.prefix,
            scope: scope_name(a.scope),
        }
    }
}

fn family(version: u8) -> String {
    if version == 4 { "inet" } else { "inet6" }.to_owned()
}

type AddrArgs = (String, u32, String, String, u8, String);

#[pymethods]
impl Addr {
    #[new]
    fn new(
        link: String,
        index: u32,
        family: String,
        address: String,
        prefixlen: u8,
        scope: String,
    ) -> Addr {
        Addr {
            link,
            index,
            family,
            address,
            prefixlen,
            scope,
        }
    }

    #[getter]
    fn cidr(&self) -> String {
        format!("{}/{}", self.address, self.prefixlen)
    }

    #[getter]
    fn interface<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("ipaddress")?
            .call_method1("ip_interface", (self.cidr(),))
    }

    fn __repr__(&self) -> String {
        format!(
            "Addr(link={}, index={}, family={}, address={}, prefixlen={}, scope={})",
            quote(&self.link),
            self.index,
            quote(&self.family),
            quote(&self.address),
            self.prefixlen,
            quote(&self.scope)
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> (Bound<'py, PyType>, AddrArgs) {
        let a = slf.get().clone();
        (
            slf.get_type(),
            (a.link, a.index, a.family, a.address, a.prefixlen, a.scope),
        )
    }
}

/// A route of the main routing table.
///
/// Attributes:
///     dst: "default" or the destination network, "10.2.0.0/16".
///     via: the gateway, or None for a directly connected network.
///     dev: the output interface's name, or None.
///     metric: the route's priority (metric in ip route), or None.
///     family: "inet" or "inet6".
///     protocol: who added it: "kernel", "boot" (ip route add, pyns), "static", ...
///     scope: "global", "link", "host".
///     type: "unicast", "blackhole", "unreachable", ...
///     src: the preferred source address (src in ip route), or None.
#[pyclass(module = "pyns.net", frozen, eq, hash, get_all)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    dst: String,
    via: Option<String>,
    dev: Option<String>,
    metric: Option<u32>,
    family: String,
    protocol: String,
    scope: String,
    #[pyo3(name = "type")]
    kind: String,
    src: Option<String>,
}

impl Route {
    /// The Python object for `r`, whose output interface (if any) is named `dev`.
    pub fn from_sys(r: route::Route, dev: Option<String>) -> Route {
        Route {
            dst: r
                .dst
                .map_or_else(|| "default".to_owned(), |d| d.to_string()),
            via: r.via.map(|v| v.to_string()),
            dev,
            metric: r.metric,
            family: family(r.version),
            protocol: protocol_name(r.protocol),
            scope: scope_name(r.scope),
            kind: type_name(r.kind),
            src: r.src.map(|s| s.to_string()),
        }
    }
}

type RouteArgs = (
    String,
    Option<String>,
    Option<String>,
    Option<u32>,
    String,
    String,
    String,
    String,
    Option<String>,
);

#[pymethods]
impl Route {
    #[new]
    #[pyo3(signature = (dst, via, dev, metric, family, protocol, scope, r#type, src=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        dst: String,
        via: Option<String>,
        dev: Option<String>,
        metric: Option<u32>,
        family: String,
        protocol: String,
        scope: String,
        r#type: String,
        src: Option<String>,
    ) -> Route {
        Route {
            dst,
            via,
            dev,
            metric,
            family,
            protocol,
            scope,
            kind: r#type,
            src,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Route(dst={}, via={}, dev={}, metric={}, family={}, protocol={}, scope={}, type={}, \
             src={})",
            quote(&self.dst),
            opt(&self.via),
            opt(&self.dev),
            self.metric
                .map_or_else(|| "None".to_owned(), |m| m.to_string()),
            quote(&self.family),
            quote(&self.protocol),
            quote(&self.scope),
            quote(&self.kind),
            opt(&self.src)
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> (Bound<'py, PyType>, RouteArgs) {
        let r = slf.get().clone();
        (
            slf.get_type(),
            (
                r.dst, r.via, r.dev, r.metric, r.family, r.protocol, r.scope, r.kind, r.src,
            ),
        )
    }
}
