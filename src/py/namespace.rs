//! `pyns.Namespace`: a handle on one namespace, and `pyns.Switch`, the `with` that enters it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::basic::CompareOp;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::errors::{check_pid, parse_kind, NamespaceError, UnsupportedError};
use super::html;
use crate::sys::error::Error;
use crate::sys::net::rtnl::{Rtnl, RtnlCache};
use crate::sys::ns::{Kind, Namespace};
use crate::sys::thread::{self, ThreadGuard};

/// Locks `m`; a panic elsewhere while it was held does not make its data unusable here.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A namespace held open by an O_CLOEXEC file descriptor; equal handles name the same
/// namespace (same nsfs device and inode).
///
/// Shared between threads: every use takes its own reference to the open fd (an `Arc`) for the
/// length of the call, so `close()` from another thread never lets a call use a closed or
/// reused fd number; the fd is closed when the last such use ends.
#[pyclass(name = "Namespace", module = "pyns", frozen)]
pub struct PyNamespace {
    ns: Mutex<Option<Arc<Namespace>>>,
    kind: Kind,
    dev: u64,
    ino: u64,
    /// pyns.net's NETLINK_ROUTE socket inside this (network) namespace, closed with it.
    rtnl: RtnlCache,
}

impl PyNamespace {
    pub fn wrap(ns: Namespace) -> Self {
        PyNamespace {
            kind: ns.kind(),
            dev: ns.dev(),
            ino: ns.inode(),
            ns: Mutex::new(Some(Arc::new(ns))),
            rtnl: RtnlCache::new(),
        }
    }

    /// A handle on a network namespace with `rtnl`, a netlink socket opened inside it, as its
    /// cached socket.
    pub fn with_rtnl(ns: Namespace, rtnl: Rtnl) -> Self {
        PyNamespace {
            rtnl: RtnlCache::seeded(rtnl),
            ..PyNamespace::wrap(ns)
        }
    }

    /// A handle on a network namespace with `rtnl`, a netlink socket opened inside it, cached
    /// if there is room (`RtnlCache::offered`).
    pub fn with_spare_rtnl(ns: Namespace, rtnl: Rtnl) -> Self {
        PyNamespace {
            rtnl: RtnlCache::offered(rtnl),
            ..PyNamespace::wrap(ns)
        }
    }

    pub fn rtnl(&self) -> &RtnlCache {
        &self.rtnl
    }

    pub fn kind_of(&self) -> Kind {
        self.kind
    }

    /// The open namespace, held for as long as the caller keeps it, or a ValueError once
    /// closed.
    pub fn get(&self) -> PyResult<Arc<Namespace>> {
        lock(&self.ns)
            .clone()
            .ok_or_else(|| PyValueError::new_err(format!("{} is closed", self.repr())))
    }

    fn repr(&self) -> String {
        format!("Namespace(kind='{}', inode={})", self.kind.name(), self.ino)
    }
}

#[pymethods]
impl PyNamespace {
    /// The calling thread's namespace of `kind` (from `/proc/thread-self/ns`).
    #[staticmethod]
    fn current(kind: &str) -> PyResult<Self> {
        Ok(PyNamespace::wrap(Namespace::current(parse_kind(kind)?)?))
    }

    /// Process `pid`'s namespace of `kind` (from `/proc/<pid>/ns`).
    #[staticmethod]
    fn of(pid: &Bound<'_, PyAny>, kind: &str) -> PyResult<Self> {
        let pid = check_pid("pid", pid)?;
        let kind = parse_kind(kind)?;
        Ok(PyNamespace::wrap(Namespace::of(pid, kind)?))
    }

    /// Opens any nsfs file (`/proc/<pid>/ns/<kind>`, `/run/netns/<name>`, a persisted one);
    /// its kind is read with ioctl NS_GET_NSTYPE and must match `kind` when given.
    #[staticmethod]
    #[pyo3(signature = (path, kind=None))]
    fn open(path: PathBuf, kind: Option<&str>) -> PyResult<Self> {
        let kind = kind.map(parse_kind).transpose()?;
        Ok(PyNamespace::wrap(Namespace::open(&path, kind)?))
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.kind.name()
    }

    #[getter]
    fn inode(&self) -> u64 {
        self.ino
    }

    #[getter]
    fn dev(&self) -> u64 {
        self.dev
    }

    #[getter]
    fn closed(&self) -> bool {
        lock(&self.ns).is_none()
    }

    fn fileno(&self) -> PyResult<i32> {
        Ok(self.get()?.as_fd().as_raw_fd())
    }

    /// Closes the fd (once calls that other threads are making with it end); the namespace
    /// lives on while anything else holds it.
    fn close(&self) {
        let ns = lock(&self.ns).take();
        self.rtnl.clear();
        drop(ns);
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        _ty: &Bound<'_, PyAny>,
        _value: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> bool {
        self.close();
        false
    }

    /// The user namespace that owns this one.
    fn owner(&self) -> PyResult<Self> {
        Ok(PyNamespace::wrap(self.get()?.owner()?))
    }

    /// The parent namespace (pid and user namespaces only).
    fn parent(&self) -> PyResult<Self> {
        Ok(PyNamespace::wrap(self.get()?.parent()?))
    }

    /// Bind-mounts the namespace at `path` so that it outlives its processes.
    fn persist(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let ns = self.get()?;
        Ok(py.detach(|| ns.persist(&path))?)
    }

    /// A context manager that moves the calling thread into this namespace and back.
    fn enter(slf: Bound<'_, Self>) -> PyResult<Switch> {
        Switch::new(vec![slf])
    }

    fn __repr__(&self) -> String {
        self.repr()
    }

    /// Jupyter's rich display: a table of kind, inode, dev and whether it is the host's.
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        html(slf, "namespace_html")
    }

    fn __hash__(&self) -> u64 {
        self.dev.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.ino
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> Py<PyAny> {
        let py = other.py();
        let Ok(other) = other.cast::<PyNamespace>() else {
            return py.NotImplemented();
        };
        let other = other.get();
        let same = (self.dev, self.ino) == (other.dev, other.ino);
        match op {
            CompareOp::Eq => same
                .into_pyobject(py)
                .map(|b| b.to_owned().into_any().unbind()),
            CompareOp::Ne => (!same)
                .into_pyobject(py)
                .map(|b| b.to_owned().into_any().unbind()),
            _ => return py.NotImplemented(),
        }
        .unwrap_or_else(|_| py.NotImplemented())
    }
}

/// Why a thread is never moved into a user namespace for a block.
const USER_REFUSED: &str = "entering a user namespace is not possible for a block: a thread \
    cannot leave a user namespace again. Start a child there instead: \
    pyns.spawn(args, join={'user': ns, ...}) or pyns.run(fn, join={'user': ns, ...}).";

/// `with` block that moves the calling thread into namespaces (setns) and, on exit, back into
/// the ones it had, in reverse order. Made by `Namespace.enter()` and `pyns.enter()`.
#[pyclass(module = "pyns", frozen)]
pub struct Switch {
    targets: Vec<Py<PyNamespace>>,
    guard: Mutex<Option<ThreadGuard>>,
}

#[pymethods]
impl Switch {
    #[new]
    fn new(targets: Vec<Bound<'_, PyNamespace>>) -> PyResult<Self> {
        let mut seen = Vec::new();
        for t in &targets {
            let t = t.get();
            t.get()?;
            if t.kind == Kind::User {
                return Err(UnsupportedError::new_err(USER_REFUSED));
            }
            if seen.contains(&t.kind) {
                return Err(PyValueError::new_err(format!(
                    "two {} namespaces given; a thread is in one of each kind",
                    t.kind.name()
                )));
            }
            seen.push(t.kind);
        }
        Ok(Switch {
            targets: targets.into_iter().map(Bound::unbind).collect(),
            guard: Mutex::new(None),
        })
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyResult<PyRef<'_, Self>> {
        let mut guard = lock(&slf.guard);
        if guard.as_ref().is_some_and(ThreadGuard::active) {
            return Err(NamespaceError::new_err("this block is already entered"));
        }
        if slf.targets.iter().any(|t| t.get().kind == Kind::Time) {
            thread::require_single_thread("entering a time namespace")?;
        }
        let held = slf
            .targets
            .iter()
            .map(|t| Ok((t.get().kind, t.get().get()?)))
            .collect::<PyResult<Vec<_>>>()?;
        let fds: Vec<(Kind, BorrowedFd<'_>)> =
            held.iter().map(|(k, ns)| (*k, ns.as_fd())).collect();
        *guard = Some(ThreadGuard::join(&fds)?);
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

    /// The namespaces this block enters.
    #[getter]
    fn targets(&self, py: Python<'_>) -> Vec<Py<PyNamespace>> {
        self.targets.iter().map(|t| t.clone_ref(py)).collect()
    }
}

/// Brings the calling thread back through the guard in `slot`. A guard that another thread
/// made stays for that thread to restore.
pub fn leave(slot: &Mutex<Option<ThreadGuard>>) -> Result<(), Error> {
    let mut slot = lock(slot);
    let Some(g) = slot.as_mut() else {
        return Ok(());
    };
    let r = g.restore();
    if !g.active() {
        *slot = None;
    }
    r
}
