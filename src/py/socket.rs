//! The native behind `pyns.testing`'s probes: a socket made inside a network namespace.

use std::os::fd::IntoRawFd;

use pyo3::prelude::*;

use super::net::Netns;
use crate::sys::net::socket::socket_in;

/// A socket of `family`, `type` and `proto` made in `netns` (default: the calling thread's
/// network namespace); returns its fd, for `socket.socket(fileno=fd)` to own.
#[pyfunction]
#[pyo3(signature = (family, r#type, proto=0, netns=None))]
pub fn net_socket(
    py: Python<'_>,
    family: i32,
    r#type: i32,
    proto: i32,
    netns: Option<&Bound<'_, PyAny>>,
) -> PyResult<i32> {
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let fd = py.detach(|| socket_in(t.fd(), family, r#type, proto))?;
    Ok(fd.into_raw_fd())
}
