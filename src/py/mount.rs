//! `pyns.mount`'s native half: mount calls and the parsed mount table (`MountInfo`).

use std::ffi::OsString;
use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::errors::check_pid;
use crate::sys::mount::{self, Propagation};
use crate::sys::mountinfo::{self, MountInfo};

/// One mount of a mount table (a line of `/proc/<pid>/mountinfo`, escapes decoded).
#[pyclass(name = "MountInfo", module = "pyns.mount", frozen)]
pub struct PyMountInfo(MountInfo);

fn strings<'py>(py: Python<'py>, v: &[OsString]) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, v)
}

#[pymethods]
impl PyMountInfo {
    #[getter]
    fn mount_id(&self) -> u64 {
        self.0.mount_id
    }
    #[getter]
    fn parent_id(&self) -> u64 {
        self.0.parent_id
    }
    #[getter]
    fn major(&self) -> u32 {
        self.0.major
    }
    #[getter]
    fn minor(&self) -> u32 {
        self.0.minor
    }
    #[getter]
    fn root(&self) -> OsString {
        self.0.root.clone()
    }
    #[getter]
    fn mount_point(&self) -> OsString {
        self.0.mount_point.clone()
    }
    #[getter]
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        strings(py, &self.0.options)
    }
    /// "shared", "private", "slave" or "unbindable" (slave when both slave and shared).
    #[getter]
    fn propagation(&self) -> &'static str {
        self.0.propagation().name()
    }
    #[getter]
    fn peer_group(&self) -> Option<u64> {
        self.0.peer_group
    }
    #[getter]
    fn master(&self) -> Option<u64> {
        self.0.master
    }
    #[getter]
    fn propagate_from(&self) -> Option<u64> {
        self.0.propagate_from
    }
    #[getter]
    fn unbindable(&self) -> bool {
        self.0.unbindable
    }
    #[getter]
    fn fstype(&self) -> OsString {
        self.0.fstype.clone()
    }
    #[getter]
    fn source(&self) -> OsString {
        self.0.source.clone()
    }
    #[getter]
    fn super_options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        strings(py, &self.0.super_options)
    }

    fn __repr__(&self) -> String {
        let q = |s: &OsString| super::quote(&s.to_string_lossy());
        format!(
            "MountInfo(mount_id={}, mount_point={}, fstype={}, source={}, propagation={})",
            self.0.mount_id,
            q(&self.0.mount_point),
            q(&self.0.fstype),
            q(&self.0.source),
            super::quote(self.0.propagation().name()),
        )
    }
}

fn wrap(all: Vec<MountInfo>) -> Vec<PyMountInfo> {
    all.into_iter().map(PyMountInfo).collect()
}

/// mount(2) MS_SHARED/MS_PRIVATE/MS_SLAVE/MS_UNBINDABLE (+MS_REC) on the mount at `path`.
#[pyfunction]
pub fn mount_set_propagation(
    py: Python<'_>,
    path: PathBuf,
    propagation: &str,
    recursive: bool,
) -> PyResult<()> {
    let p = Propagation::from_name(propagation).ok_or_else(|| {
        PyValueError::new_err(format!(
            "propagation must be one of {:?}, not {propagation:?}",
            Propagation::NAMES
        ))
    })?;
    Ok(py.detach(|| mount::set_propagation(&path, p, recursive))?)
}

/// The propagation type of the mount `path` is on.
#[pyfunction]
pub fn mount_propagation(py: Python<'_>, path: PathBuf) -> PyResult<&'static str> {
    Ok(py.detach(|| mount::mount_of(&path))?.propagation().name())
}

/// mount(2) a fresh proc at `target`.
#[pyfunction]
pub fn mount_proc(py: Python<'_>, target: PathBuf) -> PyResult<()> {
    Ok(py.detach(|| mount::proc(&target))?)
}

/// mount(2) MS_BIND `src` at `dst`, then mount_setattr(2) read-only when asked.
#[pyfunction]
pub fn mount_bind(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    readonly: bool,
    recursive: bool,
) -> PyResult<()> {
    Ok(py.detach(|| mount::bind(&src, &dst, readonly, recursive))?)
}

/// mount(2) a tmpfs at `target` with tmpfs(5)'s `size=` and `mode=`.
#[pyfunction]
#[pyo3(signature = (target, size=None, mode=None))]
pub fn mount_tmpfs(
    py: Python<'_>,
    target: PathBuf,
    size: Option<String>,
    mode: Option<u32>,
) -> PyResult<()> {
    if let Some(s) = &size {
        mount::validate_tmpfs_size(s).map_err(PyValueError::new_err)?;
    }
    if let Some(m) = mode {
        if m > 0o7777 {
            return Err(PyValueError::new_err(format!(
                "tmpfs mode must be at most 0o7777, not {m:#o}"
            )));
        }
    }
    Ok(py.detach(|| mount::tmpfs(&target, size.as_deref(), mode))?)
}

/// umount2(2) `target`, MNT_DETACH when `lazy`.
#[pyfunction]
pub fn mount_umount(py: Python<'_>, target: PathBuf, lazy: bool) -> PyResult<()> {
    Ok(py.detach(|| mount::umount(&target, lazy))?)
}

/// The parsed `/proc/<pid>/mountinfo` (None: the calling thread's mount namespace).
#[pyfunction]
#[pyo3(signature = (pid=None))]
pub fn mount_table(py: Python<'_>, pid: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<PyMountInfo>> {
    let pid = pid.map(|p| check_pid("pid", p)).transpose()?;
    Ok(wrap(py.detach(|| mount::mounts(pid))?))
}

/// Parses mountinfo text; a malformed line is a ValueError.
#[pyfunction]
pub fn mount_parse(text: &[u8]) -> PyResult<Vec<PyMountInfo>> {
    mountinfo::parse(text)
        .map(wrap)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}
