//! `pyns.unshare` and `pyns.setns`: one-way, like `os.unshare`/`os.setns` of Python 3.12.

use std::os::fd::{AsFd, BorrowedFd};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

use super::errors::{parse_kind, ranged};
use super::namespace::PyNamespace;
use crate::sys::ns::{self, Kind};

/// The non-namespace flags unshare(2) also takes.
const OTHER_UNSHARE_FLAGS: i32 = libc::CLONE_FILES | libc::CLONE_FS | libc::CLONE_SYSVSEM;

/// unshare(2): move the calling thread into new namespaces (flags: `pyns.CLONE_NEW*` OR-ed).
#[pyfunction]
pub fn unshare(flags: &Bound<'_, PyAny>) -> PyResult<()> {
    let flags = ranged("flags", flags, 0, i32::MAX)?;
    Kind::from_flags(flags & !OTHER_UNSHARE_FLAGS).map_err(|bad| {
        PyValueError::new_err(format!("unshare flags {bad:#x} are not CLONE_NEW* flags"))
    })?;
    Ok(ns::unshare(flags)?)
}

/// setns(2): move the calling thread into the namespace of a `Namespace` or an fd; `kind`
/// (a name or a `CLONE_NEW*` flag) makes the kernel check the namespace's type.
#[pyfunction]
#[pyo3(signature = (ns_or_fd, kind=None))]
pub fn setns(ns_or_fd: &Bound<'_, PyAny>, kind: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let nstype = match kind {
        None => 0,
        Some(k) => match k.extract::<String>() {
            Ok(name) => parse_kind(&name)?.flag(),
            Err(_) => {
                if !k.is_instance_of::<PyInt>() {
                    return Err(PyTypeError::new_err(
                        "kind must be a kind name like 'net' or a CLONE_NEW* flag",
                    ));
                }
                let flag = ranged("kind", k, 0, i32::MAX)?;
                Kind::from_flag(flag)
                    .ok_or_else(|| {
                        PyValueError::new_err(format!("kind {flag:#x} is not one CLONE_NEW* flag"))
                    })?
                    .flag()
            }
        },
    };
    if let Ok(h) = ns_or_fd.cast::<PyNamespace>() {
        let ns = h.get().get()?;
        return Ok(ns::setns(ns.as_fd(), nstype)?);
    }
    if !ns_or_fd.is_instance_of::<PyInt>() || ns_or_fd.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "setns() takes a pyns.Namespace or a file descriptor (int), not {}",
            ns_or_fd.get_type().name()?
        )));
    }
    let fd = ranged("ns_or_fd", ns_or_fd, 0, i32::MAX)?;
    // SAFETY: the caller passed an open fd; it is only borrowed for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(ns::setns(fd, nstype)?)
}
