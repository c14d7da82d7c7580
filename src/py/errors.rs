//! Shapes core errors as Python exceptions: OSError subclasses with `.errno` and a note.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyType};

use crate::sys::error::Error;
use crate::sys::ns::Kind;

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| to_pyerr(py, &e))
    }
}

fn to_pyerr(py: Python<'_>, e: &Error) -> PyErr {
    if e.errno == 0 {
        return pyns_error(py, "NamespaceError", e.op.to_string());
    }
    let strerror = nix::errno::Errno::from_raw(e.errno).desc();
    let err = match &e.path {
        Some(p) => PyOSError::new_err((e.errno, strerror, p.as_os_str().to_owned())),
        None => PyOSError::new_err((e.errno, strerror)),
    };
    add_note(py, &err, &note(e));
    err
}

/// The note on an OSError: the step, and for EPERM the missing privilege and how to get it.
pub fn note(e: &Error) -> String {
    let mut s = format!("pyns was doing: {}", e.op);
    if e.errno == libc::EPERM {
        s.push_str(&format!(
            "\nThis needs {} in the user namespace that owns the namespace involved. Run as \
             root, or do it in a child that owns a user namespace: \
             pyns.spawn(..., user=True) or pyns.run(..., user=True).",
            e.needs
        ));
    }
    s
}

/// Adds a note to an exception (`BaseException.add_note`, or `__notes__` before 3.11).
pub fn add_note(py: Python<'_>, err: &PyErr, note: &str) {
    let value = err.value(py);
    if value.call_method1("add_note", (note,)).is_ok() {
        return;
    }
    let notes = match value.getattr("__notes__") {
        Ok(n) => n,
        Err(_) => {
            let n = PyList::empty(py).into_any();
            let _ = value.setattr("__notes__", &n);
            n
        }
    };
    let _ = notes.call_method1("append", (note,));
}

/// An exception of one of pyns' own classes (`python/pyns/errors.py`).
pub fn pyns_error(py: Python<'_>, class: &str, msg: String) -> PyErr {
    let cls = py.import("pyns.errors").and_then(|m| m.getattr(class));
    match cls.and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from)) {
        Ok(ty) => PyErr::from_type(ty, msg),
        Err(e) => e,
    }
}

/// The kind named `name`, or a ValueError that lists the valid names.
pub fn parse_kind(name: &str) -> PyResult<Kind> {
    Kind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        PyValueError::new_err(format!(
            "unknown namespace kind {}; expected one of: {}",
            super::quote(name),
            names.join(", ")
        ))
    })
}

/// A process id as the kernel takes it, or a ValueError.
pub fn check_pid(pid: i64) -> PyResult<libc::pid_t> {
    match libc::pid_t::try_from(pid) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(PyValueError::new_err(format!(
            "pid must be a positive process id, not {pid}"
        ))),
    }
}
