//! The native behind `pyns.net.vlan`: an 802.1Q VLAN on top of a link.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::net::{no_link, valid_name, Netns};
use super::netinfo::Link;
use crate::sys::error::ErrorKind;
use crate::sys::net::{link, vlan};

/// A VLAN `name` with id `vid` on `link`; on a kernel without 8021q, `UnsupportedError`.
#[pyfunction]
#[pyo3(signature = (name, link, vid, netns=None))]
pub fn net_vlan(
    py: Python<'_>,
    name: &str,
    link: &str,
    vid: i64,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<Link> {
    valid_name("name", name)?;
    valid_name("link", link)?;
    let vid = vlan::validate_vid(vid).map_err(PyValueError::new_err)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let parent = link;
    let made = py.detach(|| {
        t.rtnl(|r| {
            vlan::add(r, name, parent, vid)?;
            link::get(r, name)
        })
    });
    match made {
        Ok(l) => Ok(Link::from_sys(l, None)),
        Err(e) if e.kind == ErrorKind::Unsupported => Err(e.into()),
        Err(e) if e.op.starts_with("SIOCGIFINDEX") => Err(no_link(py, e, parent)),
        Err(e) => Err(no_link(py, e, name)),
    }
}
