//! The native behind `pyns.testing.Capture`: a packet capture running in a Rust thread.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::namespace::lock;
use super::net::{no_link, valid_name, Netns};
use super::quote;
use crate::sys::capture::{Capture, Summary};

/// Adds `PacketCapture` and `capture_start` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PacketCapture>()?;
    m.add_function(wrap_pyfunction!(capture_start, m)?)
}

/// A running (or finished) capture of packets into a pcapng file.
#[pyclass(name = "PacketCapture", module = "pyns._native", frozen)]
pub struct PacketCapture {
    path: PathBuf,
    interface: Option<String>,
    running: Mutex<Option<Capture>>,
    summary: Mutex<Option<Summary>>,
}

/// Starts capturing the packets of `interface` (None: of every interface) in the network
/// namespace `netns` (None: the calling thread's) into a new pcapng file at `path`.
#[pyfunction]
#[pyo3(signature = (path, netns=None, interface=None))]
pub fn capture_start(
    py: Python<'_>,
    path: PathBuf,
    netns: Option<&Bound<'_, PyAny>>,
    interface: Option<String>,
) -> PyResult<PacketCapture> {
    if let Some(name) = &interface {
        valid_name("interface", name)?;
    }
    if path.as_os_str().is_empty() {
        return Err(PyValueError::new_err("path must not be empty"));
    }
    let netns = Netns::resolve(netns, "netns")?;
    let t = netns.target()?;
    let cap = py
        .detach(|| Capture::start(t.fd(), interface.as_deref(), &path))
        .map_err(|e| match &interface {
            Some(name) if e.op.starts_with("SIOCGIFINDEX") => no_link(py, e, name),
            _ => e.into(),
        })?;
    Ok(PacketCapture {
        path,
        interface,
        running: Mutex::new(Some(cap)),
        summary: Mutex::new(None),
    })
}

impl PacketCapture {
    fn summary(&self) -> Option<Summary> {
        *lock(&self.summary)
    }
}

#[pymethods]
impl PacketCapture {
    /// Stops capturing: the packets the kernel still holds are written, the file is flushed
    /// and closed. Calling it again does nothing.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let cap = lock(&self.running).take();
        let Some(cap) = cap else {
            return Ok(());
        };
        let summary = py.detach(|| cap.stop())?;
        *lock(&self.summary) = Some(summary);
        Ok(())
    }

    /// The pcapng file.
    #[getter]
    fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// The one interface captured, or None for every interface of the namespace.
    #[getter]
    fn interface(&self) -> Option<String> {
        self.interface.clone()
    }

    /// Whether it is still capturing.
    #[getter]
    fn running(&self) -> bool {
        self.summary().is_none()
    }

    /// Packets written so far.
    #[getter]
    fn captured(&self) -> u64 {
        match self.summary() {
            Some(s) => s.captured,
            None => lock(&self.running).as_ref().map_or(0, |c| c.captured()),
        }
    }

    /// Packets the kernel dropped because the ring was full (known once stopped; 0 before).
    #[getter]
    fn dropped(&self) -> u64 {
        self.summary().map_or(0, |s| s.dropped)
    }

    fn __repr__(&self) -> String {
        let state = if self.summary().is_some() {
            "stopped"
        } else {
            "running"
        };
        format!(
            "<pyns._native.PacketCapture {} {state}>",
            quote(&self.path.to_string_lossy())
        )
    }
}
