//! `Memfd`: a memfd owned by a Python object, so that its descriptor goes with the object. A
//! descriptor returned as an int can be lost between two bytecodes (a Ctrl-C raised as the
//! call returns); this one cannot.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::namespace::lock;
use crate::sys::memfd;

/// An anonymous memory file, readable by others through `/proc/PID/fd/N`.
#[pyclass(name = "Memfd", module = "pyns._native", frozen)]
pub struct Memfd {
    fd: Mutex<Option<OwnedFd>>,
}

impl Memfd {
    fn with<T>(&self, f: impl FnOnce(&OwnedFd) -> PyResult<T>) -> PyResult<T> {
        match lock(&self.fd).as_ref() {
            Some(fd) => f(fd),
            None => Err(PyValueError::new_err("I/O operation on a closed Memfd")),
        }
    }
}

#[pymethods]
impl Memfd {
    /// A new close-on-exec memfd named `name`, holding `data`.
    #[new]
    fn new(name: &str, data: &[u8]) -> PyResult<Self> {
        let fd = memfd::create(name)?;
        memfd::write_all(&fd, data)?;
        Ok(Memfd {
            fd: Mutex::new(Some(fd)),
        })
    }

    /// The descriptor's number.
    fn fileno(&self) -> PyResult<i32> {
        self.with(|fd| Ok(fd.as_raw_fd()))
    }

    /// Appends `data`.
    fn write(&self, data: &[u8]) -> PyResult<()> {
        self.with(|fd| Ok(memfd::write_all(fd, data)?))
    }

    /// Makes this descriptor refer to `other`'s file, atomically (readers opening it get the
    /// old file or the new one).
    fn replace(&self, other: &Memfd) -> PyResult<()> {
        self.with(|fd| other.with(|by| Ok(memfd::replace(fd, by)?)))
    }

    /// Closes the descriptor; calling it again does nothing.
    fn close(&self) {
        lock(&self.fd).take();
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        lock(&self.fd).is_none()
    }
}
