//! `pyns.unshare` and `pyns.setns`: one-way, like `os.unshare`/`os.setns` of Python 3.12.

use std::os::fd::BorrowedFd;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::errors::parse_kind;
use super::namespace::PyNamespace;
use crate::sys::ns::{self, Kind};

/// The non-namespace flags unshare(2) also takes.
const OTHER_UNSHARE_FLAGS: i32 = libc::CLONE_FILES | libc::CLONE_FS | libc::CLONE_SYSVSEM;

/// unshare(2): move the calling thread into new namespaces (flags: `pyns.CLONE_NEW*` OR-ed).
#[pyfunction]
pub fn unshare(flags: i32) -> PyResult<()> {
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
                let flag: i32 = k.extract().map_err(|_| {
                    PyTypeError::new_err("kind must be a kind name like 'net' or a CLONE_NEW* flag")
                })?;
                Kind::from_flag(flag)
                    .ok_or_else(|| {
                        PyValueError::new_err(format!("{flag:#x} is not one CLONE_NEW* flag"))
                    })?
                    .flag()
            }
        },
    };
    if let Ok(h) = ns_or_fd.cast::<PyNamespace>() {
        let h = h.borrow();
        return Ok(ns::setns(std::os::fd::AsFd::as_fd(h.get()?), nstype)?);
    }
    let fd: i32 = ns_or_fd.extract().map_err(|_| {
        PyTypeError::new_err("setns() takes a pyns.Namespace or a file descriptor (int)")
    })?;
    if fd < 0 {
        return Err(PyValueError::new_err(format!("bad file descriptor {fd}")));
    }
    // SAFETY: the caller passed an open fd; it is only borrowed for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(ns::setns(fd, nstype)?)
}
