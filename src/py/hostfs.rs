//! The natives behind a topology host's own files (`pyns.testing.etc`, made by `net_node`)
//! and behind joining a named network namespace as `ip netns exec` does.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::namespace::PyNamespace;
use crate::sys::hostfs::{self, Op};

/// One op from its tuple form: `("bind", src, dst)`, `("tmpfs", dst, mode)`,
/// `("overlay", dir, upper, work)`, `("mkdir", path, mode)`, `("write", path, data, mode)`,
/// `("hold", src)`, `("attach", index, dst)`.
pub fn op(t: &Bound<'_, PyAny>) -> PyResult<Op> {
    let what: String = t.get_item(0)?.extract()?;
    let path = |i: usize| -> PyResult<PathBuf> { t.get_item(i)?.extract() };
    let mode = |i: usize| -> PyResult<u32> { t.get_item(i)?.extract() };
    Ok(match what.as_str() {
        "bind" => Op::Bind {
            src: path(1)?,
            dst: path(2)?,
        },
        "tmpfs" => Op::Tmpfs {
            dst: path(1)?,
            mode: mode(2)?,
        },
        "overlay" => Op::Overlay {
            dir: path(1)?,
            upper: path(2)?,
            work: path(3)?,
        },
        "mkdir" => Op::Mkdir {
            path: path(1)?,
            mode: mode(2)?,
        },
        "hold" => Op::Hold { src: path(1)? },
        "attach" => Op::Attach {
            index: t.get_item(1)?.extract()?,
            dst: path(2)?,
        },
        "write" => Op::Write {
            path: path(1)?,
            data: t.get_item(2)?.extract()?,
            mode: mode(3)?,
        },
        other => return Err(PyValueError::new_err(format!("unknown mount op {other:?}"))),
    })
}

/// The mount namespace `ip netns exec NAME` gives its program, made inside `net` (the
/// namespace named `name`); returns it and the `/etc/netns/NAME` entries not bound.
#[pyfunction]
pub fn netns_exec_mnt(
    py: Python<'_>,
    net: PyRef<'_, PyNamespace>,
    name: &str,
) -> PyResult<(PyNamespace, Vec<String>)> {
    crate::sys::net::netns::validate_name(name).map_err(PyValueError::new_err)?;
    let net = net.get()?;
    let (mnt, skipped) = py.detach(|| hostfs::netns_exec_mnt(&net, name))?;
    Ok((PyNamespace::wrap(mnt), skipped))
}
