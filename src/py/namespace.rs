//! `pyns.Namespace`: a handle on one namespace, and `pyns.Switch`, the `with` that enters it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;

use pyo3::basic::CompareOp;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::errors::{check_pid, parse_kind, pyns_error};
use super::html;
use crate::sys::net::rtnl::{Rtnl, RtnlCache};
use crate::sys::ns::{Kind, Namespace};
use crate::sys::thread::{self, ThreadGuard};

/// A namespace held open by an O_CLOEXEC file descriptor; equal handles name the same
/// namespace (same nsfs device and inode).
#[pyclass(name = "Namespace", module = "pyns")]
pub struct PyNamespace {
    ns: Option<Namespace>,
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
            ns: Some(ns),
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

    pub fn rtnl(&self) -> &RtnlCache {
        &self.rtnl
    }

    pub fn kind_of(&self) -> Kind {
        self.kind
    }

    /// The open namespace, or a ValueError once closed.
    pub fn get(&self) -> PyResult<&Namespace> {
        self.ns
            .as_ref()
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
    fn of(pid: i64, kind: &str) -> PyResult<Self> {
        let kind = parse_kind(kind)?;
        Ok(PyNamespace::wrap(Namespace::of(check_pid(pid)?, kind)?))
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
        self.ns.is_none()
    }

    fn fileno(&self) -> PyResult<i32> {
        Ok(self.get()?.as_fd().as_raw_fd())
    }

    /// Closes the fd; the namespace lives on while anything else holds it.
    fn close(&mut self) {
        self.rtnl.clear();
        self.ns = None;
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
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
    fn persist(&self, path: PathBuf) -> PyResult<()> {
        Ok(self.get()?.persist(&path)?)
    }

    /// A context manager that moves the calling thread into this namespace and back.
    fn enter(slf: Bound<'_, Self>) -> PyResult<Switch> {
        Switch::new(slf.py(), vec![slf])
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
        let other = other.borrow();
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
#[pyclass(module = "pyns")]
pub struct Switch {
    targets: Vec<Py<PyNamespace>>,
    guard: Option<ThreadGuard>,
}

#[pymethods]
impl Switch {
    #[new]
    fn new(py: Python<'_>, targets: Vec<Bound<'_, PyNamespace>>) -> PyResult<Self> {
        let mut seen = Vec::new();
        for t in &targets {
            let t = t.borrow();
            t.get()?;
            if t.kind == Kind::User {
                return Err(pyns_error(py, "UnsupportedError", USER_REFUSED.into()));
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
            guard: None,
        })
    }

    fn __enter__(mut slf: PyRefMut<'_, Self>) -> PyResult<PyRefMut<'_, Self>> {
        let py = slf.py();
        if slf.guard.as_ref().is_some_and(ThreadGuard::active) {
            return Err(pyns_error(
                py,
                "NamespaceError",
                "this block is already entered".into(),
            ));
        }
        let held: Vec<PyRef<'_, PyNamespace>> = slf.targets.iter().map(|t| t.borrow(py)).collect();
        if held.iter().any(|t| t.kind == Kind::Time) {
            thread::require_single_thread("entering a time namespace")
                .map_err(|e| pyns_error(py, "UnsupportedError", e.to_string()))?;
        }
        let mut fds: Vec<(Kind, BorrowedFd<'_>)> = Vec::with_capacity(held.len());
        for t in &held {
            fds.push((t.kind, t.get()?.as_fd()));
        }
        let guard = ThreadGuard::join(&fds)?;
        drop(fds);
        drop(held);
        slf.guard = Some(guard);
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

    /// The namespaces this block enters.
    #[getter]
    fn targets(&self, py: Python<'_>) -> Vec<Py<PyNamespace>> {
        self.targets.iter().map(|t| t.clone_ref(py)).collect()
    }
}
