//! Shapes core errors as Python exceptions: OSError subclasses with `.errno` and a note.

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList};

use crate::sys::error::{Error, ErrorKind};
use crate::sys::ns::Kind;

// pyns' own classes (python/pyns/errors.py), imported once and kept.
pyo3::import_exception!(pyns.errors, NamespaceError);
pyo3::import_exception!(pyns.errors, UnsupportedError);
pyo3::import_exception!(pyns.errors, NotANamespaceError);
pyo3::import_exception!(pyns.errors, ChildError);

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        Python::attach(|py| to_pyerr(py, &e))
    }
}

fn to_pyerr(py: Python<'_>, e: &Error) -> PyErr {
    let err = match e.kind {
        ErrorKind::Condition => return NamespaceError::new_err(e.to_string()),
        ErrorKind::Unsupported => {
            // The message is the whole story; the fix is also an attribute, as on OSErrors.
            let err = UnsupportedError::new_err(e.to_string());
            let _ = err.value(py).setattr("hint", e.advice().as_deref());
            return err;
        }
        ErrorKind::NotANamespace => return NotANamespaceError::new_err(e.to_string()),
        ErrorKind::Os => {
            let strerror = nix::errno::Errno::from_raw(e.errno).desc();
            match &e.path {
                Some(p) => PyOSError::new_err((e.errno, strerror, p.as_os_str().to_owned())),
                None => PyOSError::new_err((e.errno, strerror)),
            }
        }
    };
    annotate(py, &err, e);
    err
}

/// Gives an exception made from `e` its `.step` and `.hint` attributes and the note.
pub fn annotate(py: Python<'_>, err: &PyErr, e: &Error) {
    let value = err.value(py);
    let hint = e.advice();
    let _ = value.setattr("step", e.op.as_ref());
    let _ = value.setattr("hint", hint.as_deref());
    add_note(py, err, &note(e));
}

/// The note on an OSError: the step, and the missing privilege and how to get it, if known.
pub fn note(e: &Error) -> String {
    match e.advice() {
        Some(h) => format!("pyns was doing: {}\n{h}", e.op),
        None => format!("pyns was doing: {}", e.op),
    }
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

/// A process id as the kernel takes it, or a TypeError/ValueError naming `what`.
pub fn check_pid(what: &str, pid: &Bound<'_, PyAny>) -> PyResult<libc::pid_t> {
    let n = int_arg(what, pid)?;
    match libc::pid_t::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(PyValueError::new_err(format!(
            "{what} must be a positive process id, not {n}"
        ))),
    }
}

/// An int argument (not a bool) of any size, or a TypeError naming `what`.
pub fn int_arg(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<i128> {
    if !obj.is_instance_of::<PyInt>() || obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {}",
            obj.get_type().name()?
        )));
    }
    // Beyond i128, clamp: every caller rejects such a value as out of range.
    Ok(obj.extract::<i128>().unwrap_or_else(|_| {
        if obj.gt(0).unwrap_or(false) {
            i128::MAX
        } else {
            i128::MIN
        }
    }))
}

/// An int argument in `T`'s range, or a TypeError/ValueError naming `what` and the range.
pub fn ranged<T: TryFrom<i128> + std::fmt::Display + Copy>(
    what: &str,
    obj: &Bound<'_, PyAny>,
    lo: T,
    hi: T,
) -> PyResult<T>
where
    i128: From<T>,
{
    let n = int_arg(what, obj)?;
    if n < i128::from(lo) || n > i128::from(hi) {
        return Err(PyValueError::new_err(format!(
            "{what} must be in {lo}..{hi}, not {}",
            obj.str()?
        )));
    }
    T::try_from(n).map_err(|_| PyValueError::new_err(format!("{what} is out of range")))
}
