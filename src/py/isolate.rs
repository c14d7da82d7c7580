//! `pyns.isolate`: the calling thread in new namespaces for the length of a `with` block.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use std::sync::Mutex;

use super::errors::{NamespaceError, UnsupportedError};
use super::namespace::{leave, lock, PyNamespace};
use crate::sys::isolate::{self, Spec};
use crate::sys::mount::Propagation;
use crate::sys::ns::{Kind, Namespace};
use crate::sys::task;
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
#[pyclass(module = "pyns", frozen)]
pub struct Isolation {
    spec: Spec,
    guard: Mutex<Option<ThreadGuard>>,
    namespaces: Mutex<Option<Py<PyDict>>>,
}

#[pymethods]
impl Isolation {
    #[new]
    #[pyo3(signature = (*, uts=false, ipc=false, net=false, mnt=false, cgroup=false, pid=false,
                        time=false, user=false, hostname=None, domainname=None, loopback=true,
                        propagation=Some("private".to_owned())))]
    #[allow(clippy::too_many_arguments)]
    fn new(
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
            return Err(UnsupportedError::new_err(
                "isolate(user=True) is not possible: a thread cannot leave a user namespace \
                 again, and the kernel refuses it in a multi-threaded process. Use \
                 pyns.run(fn, user=True, ...) or pyns.spawn(args, user=True, ...) to get a \
                 child in a new user namespace.",
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
            guard: Mutex::new(None),
            namespaces: Mutex::new(None),
        })
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        let mut guard = lock(&slf.guard);
        if guard.as_ref().is_some_and(ThreadGuard::active) {
            return Err(NamespaceError::new_err(
                "this isolate() block is already entered",
            ));
        }
        if slf.spec.kinds.contains(&Kind::Time) {
            thread::require_single_thread("isolate(time=True)")?;
        }
        let entered = isolate::isolate(&slf.spec)?;
        *lock(&slf.namespaces) = None;
        *guard = Some(entered);
        drop(guard);
        Ok(slf)
    }

    fn __exit__(
        &self,
        _ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        leave(&self.guard)?;
        Ok(false)
    }

    /// The new namespaces by kind (for pid and time: the one children started inside get).
    /// Available inside the block; handles taken there stay valid afterwards.
    #[getter]
    fn namespaces(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        if let Some(d) = lock(&self.namespaces).as_ref() {
            return Ok(d.clone_ref(py));
        }
        let inside = lock(&self.guard)
            .as_ref()
            .is_some_and(|g| g.active() && g.tid() == task::gettid());
        if !inside {
            return Err(NamespaceError::new_err(
                "isolate().namespaces is available only inside the block, on its thread",
            ));
        }
        // Made without holding a lock: making Python objects may run other Python code.
        let d = PyDict::new(py);
        for &k in &self.spec.kinds {
            let ns = Namespace::from_fd(thread::open_current(k)?, Some(k))?;
            d.set_item(k.name(), PyNamespace::wrap(ns))?;
        }
        let d = d.unbind();
        Ok(lock(&self.namespaces).get_or_insert(d).clone_ref(py))
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
