//! The natives behind the partitions of `pyns.testing`: FIB rules by netlink.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::net::Netns;
use crate::sys::net::addr::Cidr;
use crate::sys::net::rule::{self, Action, Rule};

fn selector(what: &str, version: u8, v: Option<&str>) -> PyResult<Option<Cidr>> {
    let Some(s) = v else { return Ok(None) };
    let c = Cidr::parse(s).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))?;
    if c.version() != version {
        return Err(PyValueError::new_err(format!(
            "{what} {s:?} is not an IPv{version} network"
        )));
    }
    Ok(Some(c))
}

fn parse(
    version: u8,
    src: Option<&str>,
    dst: Option<&str>,
    priority: u32,
    table: Option<u32>,
) -> PyResult<Rule> {
    if version != 4 && version != 6 {
        return Err(PyValueError::new_err(format!(
            "version must be 4 or 6, not {version}"
        )));
    }
    Ok(Rule {
        version,
        src: selector("src", version, src)?,
        dst: selector("dst", version, dst)?,
        priority,
        action: table.map_or(Action::Blackhole, Action::Lookup),
    })
}

/// Adds (`add=True`) or deletes a FIB rule: from `src` to `dst` (None: all), at `priority`,
/// looking up `table`, or dropping silently with None.
#[pyfunction]
#[pyo3(signature = (add, version, src, dst, priority, table=None, netns=None))]
#[allow(clippy::too_many_arguments)]
pub fn net_rule(
    py: Python<'_>,
    add: bool,
    version: u8,
    src: Option<&str>,
    dst: Option<&str>,
    priority: u32,
    table: Option<u32>,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let r = parse(version, src, dst, priority, table)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    Ok(py.detach(|| {
        t.rtnl(|n| {
            if add {
                rule::add(n, &r)
            } else {
                rule::delete(n, &r)
            }
        })
    })?)
}

/// Moves the lookup of the `local` table from priority 0 to `priority` (IPv4 or IPv6).
#[pyfunction]
#[pyo3(signature = (version, priority, netns=None))]
pub fn net_move_local_rule(
    py: Python<'_>,
    version: u8,
    priority: u32,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    parse(version, None, None, priority, None)?;
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    Ok(py.detach(|| t.rtnl(|n| rule::move_local(n, version, priority)))?)
}
