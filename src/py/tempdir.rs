//! `TempDir`: a private temporary directory owned by a Python object and removed, with what
//! it holds, when the object goes. A path returned as a str can be lost between two bytecodes
//! (a Ctrl-C raised as the call returns); this one cannot.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;

use super::namespace::lock;
use crate::sys::tempdir;

/// Removes the directory `path` and everything in it (one native call: a Ctrl-C comes before
/// or after it, never in the middle); a path that is gone already is not an error.
#[pyfunction]
pub fn remove_tree(py: Python<'_>, path: PathBuf) -> PyResult<()> {
    Ok(py.detach(|| tempdir::remove(&path))?)
}

/// A directory made by `mkdtemp` in `parent`, removed by `remove()` or when dropped.
#[pyclass(name = "TempDir", module = "pyns._native", frozen)]
pub struct TempDir {
    path: PathBuf,
    present: Mutex<bool>,
}

#[pymethods]
impl TempDir {
    #[new]
    fn new(parent: PathBuf, prefix: &str) -> PyResult<Self> {
        Ok(TempDir {
            path: tempdir::create(&parent, prefix)?,
            present: Mutex::new(true),
        })
    }

    /// The directory's path.
    #[getter]
    fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Removes the directory and what it holds; calling it again does nothing.
    fn remove(&self) -> PyResult<()> {
        let mut present = lock(&self.present);
        if *present {
            tempdir::remove(&self.path)?;
            *present = false;
        }
        Ok(())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if *lock(&self.present) {
            let _ = tempdir::remove(&self.path); // nothing to tell anyone at this point
        }
    }
}
