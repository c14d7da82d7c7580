//! The native behind `pyns.net.vlan`: an 802.1Q VLAN on top of a link.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::errors::{add_note, pyns_error};
use super::net::{no_link, valid_name, Netns};
use super::netinfo::Link;
use crate::sys::error::Error;
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
        Err(e) if e.errno == libc::EOPNOTSUPP && e.op.starts_with("RTM_NEWLINK") => {
            Err(no_vlans(py, e))
        }
        Err(e) if e.op.starts_with("SIOCGIFINDEX") => Err(no_link(py, e, parent)),
        Err(e) => Err(no_link(py, e, name)),
    }
}

/// The kernel has no `vlan` link kind: 8021q is not built in and its module cannot be loaded.
fn no_vlans(py: Python<'_>, e: Error) -> PyErr {
    let err = pyns_error(
        py,
        "UnsupportedError",
        format!(
            "this kernel has no VLAN support: the {m} module is not loaded and could not be \
             loaded on demand (CONFIG_VLAN_8021Q); load it with `modprobe {m}` (Debian ships it \
             in the linux-image package of the running kernel)",
            m = vlan::MODULE
        ),
    );
    let value = err.value(py);
    let _ = value.setattr("errno", e.errno);
    let _ = value.setattr("step", &*e.op);
    let _ = value.setattr("hint", format!("modprobe {}", vlan::MODULE));
    add_note(py, &err, &format!("pyns was doing: {}", e.op));
    err
}
