//! `pyns.isolate`: the calling thread in new namespaces for the length of a `with` block.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::pyns_error;
use super::namespace::PyNamespace;
use crate::sys::isolate::{self, Spec};
use crate::sys::mount::Propagation;
use crate::sys::ns::{Kind, Namespace};
use crate::sys::thread::{self, ThreadGuard};
use crate::sys::uts;

/// Moves the calling thread into new namespaces for the length of a `with` block, and back
/// into exactly the ones it had on exit (also after an exception).
///
/// Args:
///     uts, ipc, net, mnt, cgroup: switch the calling thread into a new namespace now.
///     pid, time: the new namespace applies to children started inside the block.
///     user: refused (a user namespace cannot be left again): use pyns.run / pyns.spawn.
///     hostname, domainname: set in the new UTS namespace (imply uts=True).
///     loopback: bring `lo` up in a new network namespace (default True).
///     propagation: applied recursively to `/` in a new mount namespace ("private",
///         "slave", "shared", "unbindable"; None leaves it as copied).
///
/// With mnt=True the thread gets its own filesystem context (cwd, root, umask; the kernel's
/// CLONE_FS) for good: after the block its cwd is restored, but later os.chdir/os.umask in
/// other threads no longer reach it, and a chroot of the process is not re-applied to it.
///
/// Returns:
///     The block object; `.namespaces` maps each new kind to its `Namespace` handle.
///
/// Raises:
///     pyns.UnsupportedError: user=True, or time=True in a multi-threaded process.
///     ValueError: a bad hostname or propagation.
///     OSError: a failed syscall (PermissionError without CAP_SYS_ADMIN), with a note.
#[pyclass(module = "pyns")]
pub struct Isolation {
    spec: Spec,
    guard: Option<ThreadGuard>,
    namespaces: Option<Py<PyDict>>,
}

#[pymethods]
impl Isolation {
    #[new]
    #[pyo3(signature = (*, uts=false, ipc=false, net=false, mnt=false, cgroup=false, pid=false,
                        time=false, user=false, hostname=None, domainname=None, loopback=true,
                        propagation=Some("private".to_owned())))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        uts: bool,
        ipc: bool,
        net: bool,
        mnt: bool,
        cgroup: bool,
        pid: bool,
        time: bool,
        user: bool,
        hostname: Option<String>,
        domainname: Option<String>,
        loopback: bool,
        propagation: Option<String>,
    ) -> PyResult<Self> {
        if user {
            return Err(pyns_error(
                py,
                "UnsupportedError",
                "isolate(user=True) is not possible: a thread cannot leave a user namespace \
                 again, and the kernel refuses it in a multi-threaded process. Use \
                 pyns.run(fn, user=True, ...) or pyns.spawn(args, user=True, ...) to get a \
                 child in a new user namespace."
                    .into(),
            ));
        }
        for (what, name) in [("hostname", &hostname), ("domainname", &domainname)] {
            if let Some(n) = name {
                uts::validate(what, n).map_err(PyValueError::new_err)?;
            }
        }
        let propagation = match propagation {
            None => None,
            Some(p) => Some(Propagation::from_name(&p).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "propagation must be one of {:?} or None, not {p:?}",
                    Propagation::NAMES
                ))
            })?),
        };
        let uts = uts || hostname.is_some() || domainname.is_some();
        let wanted = [cgroup, ipc, mnt, net, pid, time, false, uts];
        let kinds = Kind::ALL
            .into_iter()
            .zip(wanted)
            .filter(|(_, w)| *w)
            .map(|(k, _)| k)
            .collect();
        Ok(Isolation {
            spec: Spec {
                kinds,
                hostname,
                domainname,
                loopback,
                propagation,
            },
            guard: None,
            namespaces: None,
        })
    }

    fn __enter__(mut slf: PyRefMut<'_, Self>) -> PyResult<PyRefMut<'_, Self>> {
        let py = slf.py();
        if slf.guard.as_ref().is_some_and(ThreadGuard::active) {
            return Err(pyns_error(
                py,
                "NamespaceError",
                "this isolate() block is already entered".into(),
            ));
        }
        if slf.spec.kinds.contains(&Kind::Time) {
            thread::require_single_thread("isolate(time=True)")
                .map_err(|e| pyns_error(py, "UnsupportedError", e.to_string()))?;
        }
        slf.namespaces = None;
        slf.guard = Some(isolate::isolate(&slf.spec)?);
        Ok(slf)
    }

    fn __exit__(
        &mut self,
        _ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if let Some(g) = self.guard.as_mut() {
            g.restore()?;
        }
        self.guard = None;
        Ok(false)
    }

    /// The new namespaces by kind (for pid and time: the one children started inside get).
    /// Available inside the block; handles taken there stay valid afterwards.
    #[getter]
    fn namespaces(&mut self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        if let Some(d) = &self.namespaces {
            return Ok(d.clone_ref(py));
        }
        let inside = self
            .guard
            .as_ref()
            .is_some_and(|g| g.active() && g.tid() == thread::gettid());
        if !inside {
            return Err(pyns_error(
                py,
                "NamespaceError",
                "isolate().namespaces is available only inside the block, on its thread".into(),
            ));
        }
        let d = PyDict::new(py);
        for &k in &self.spec.kinds {
            let ns = Namespace::from_fd(thread::open_current(k)?, Some(k))?;
            d.set_item(k.name(), PyNamespace::wrap(ns))?;
        }
        let d = d.unbind();
        self.namespaces = Some(d.clone_ref(py));
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let mut parts: Vec<String> = self
            .spec
            .kinds
            .iter()
            .map(|k| format!("{}=True", k.name()))
            .collect();
        if let Some(h) = &self.spec.hostname {
            parts.push(format!("hostname={}", super::quote(h)));
        }
        if let Some(d) = &self.spec.domainname {
            parts.push(format!("domainname={}", super::quote(d)));
        }
        format!("isolate({})", parts.join(", "))
    }
}
