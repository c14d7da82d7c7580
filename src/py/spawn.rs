//! The native half of `pyns.spawn` and `pyns.run`: `ChildSpec` (namespaces and identity of a
//! child), `spawn` (clone trampoline + execve) and `fork` (the Python path).

use std::os::fd::{AsFd, AsRawFd, IntoRawFd};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::PyTypeInfo;

use super::errors::{add_note, note, parse_kind, ChildError};
use super::idmap::PyIdMap;
use super::namespace::PyNamespace;
use crate::sys::error::Error;
use crate::sys::idmap::Setgroups;
use crate::sys::ns::Namespace;
use crate::sys::spawn as core;
use crate::sys::spawn::fork::{ForkHooks, Forked};
use crate::sys::spawn::{Child, Creds, Failed, Program, Spec, Starting};

/// How long a child's set-up may take before it is killed.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The namespaces and identity of a child, validated (built by pyns.process).
#[pyclass(module = "pyns", frozen)]
pub struct ChildSpec {
    spec: Spec,
    join: Vec<Py<PyNamespace>>,
}

#[pymethods]
impl ChildSpec {
    #[new]
    #[pyo3(signature = (*, new=Vec::new(), join=Vec::new(), hostname=None, domainname=None,
                        uid_map=None, gid_map=None, setgroups="deny", mount_proc=false, init=true,
                        monotonic_ns=None, boottime_ns=None, pdeathsig=libc::SIGKILL,
                        loopback=true, umask=None, new_session=false, process_group=None,
                        groups=None, gid=None, uid=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        new: Vec<String>,
        join: Vec<Bound<'_, PyNamespace>>,
        hostname: Option<String>,
        domainname: Option<String>,
        uid_map: Option<&Bound<'_, PyAny>>,
        gid_map: Option<&Bound<'_, PyAny>>,
        setgroups: &str,
        mount_proc: bool,
        init: bool,
        monotonic_ns: Option<i64>,
        boottime_ns: Option<i64>,
        pdeathsig: i32,
        loopback: bool,
        umask: Option<u32>,
        new_session: bool,
        process_group: Option<i32>,
        groups: Option<Vec<u32>>,
        gid: Option<u32>,
        uid: Option<u32>,
    ) -> PyResult<Self> {
        let new = new
            .iter()
            .map(|k| parse_kind(k))
            .collect::<PyResult<Vec<_>>>()?;
        let setgroups: Setgroups = setgroups.parse().map_err(PyValueError::new_err)?;
        if !(0..=64).contains(&pdeathsig) {
            return Err(PyValueError::new_err(format!(
                "pdeathsig must be a signal number (or 0 for none), not {pdeathsig}"
            )));
        }
        let mut joined = Vec::with_capacity(join.len());
        for ns in &join {
            let ns = ns.borrow();
            let kind = ns.kind_of();
            if joined.iter().any(|(k, _)| *k == kind) {
                return Err(PyValueError::new_err(format!(
                    "two {} namespaces to join; a process is in one of each kind",
                    kind.name()
                )));
            }
            joined.push((kind, ns.get()?.as_fd().as_raw_fd()));
        }
        let spec = Spec {
            new,
            join: joined,
            hostname,
            domainname,
            uid_map: uid_map.map(PyIdMap::from_any).transpose()?,
            gid_map: gid_map.map(PyIdMap::from_any).transpose()?,
            setgroups,
            mount_proc,
            init,
            monotonic_ns,
            boottime_ns,
            pdeathsig,
            loopback,
            creds: Creds {
                umask,
                new_session,
                process_group,
                groups,
                gid,
                uid,
            },
        };
        spec.check().map_err(PyValueError::new_err)?;
        Ok(ChildSpec {
            spec,
            join: join.into_iter().map(Bound::unbind).collect(),
        })
    }
}

impl ChildSpec {
    /// The spec with fds of the namespaces to join (the handles must be open), and those fds:
    /// copies owned by the caller, so that another thread closing a handle while the child
    /// starts (the GIL released) cannot let the fd number be reused.
    fn current(&self, py: Python<'_>) -> PyResult<(Spec, Vec<Namespace>)> {
        let mut spec = self.spec.clone();
        let mut held = Vec::with_capacity(self.join.len());
        for (slot, ns) in spec.join.iter_mut().zip(&self.join) {
            let copy = ns.borrow(py).get()?.try_clone()?;
            slot.1 = copy.as_fd().as_raw_fd();
            held.push(copy);
        }
        Ok((spec, held))
    }
}

/// A failure to start a child as a Python exception: OSError for the parent's syscalls and
/// the program's execve/chdir; PermissionError (with the missing privilege and the fix) for
/// any step the kernel refused for want of a privilege, whichever process made it, so that
/// spawn and run, on every route, raise the same; pyns.ChildError for other set-up steps.
fn to_pyerr(py: Python<'_>, f: Failed) -> PyErr {
    match f {
        Failed::Os(e) => e.into(),
        Failed::Setup(e) if refused(&e) => e.into(),
        Failed::IdMap(e) if refused(&e) => e.hint(ID_MAP_HINT).into(),
        Failed::Setup(e) | Failed::IdMap(e) => child_error(py, &e),
    }
}

/// How to get an id map that was refused (the new user namespace exists: user=True is set).
const ID_MAP_HINT: &str = "Without CAP_SETUID/CAP_SETGID over the parent user namespace, a \
    process may map only its own uid and gid (the gid with setgroups=\"deny\"), as \
    map_root=True does. Map more through newuidmap/newgidmap (Debian package uidmap, with \
    ranges for this user in /etc/subuid and /etc/subgid), or run as root.";

/// Whether the kernel refused a step for want of a privilege.
fn refused(e: &Error) -> bool {
    e.errno == libc::EPERM || e.errno == libc::EACCES
}

fn child_error(py: Python<'_>, e: &Error) -> PyErr {
    let errno = (e.errno != 0).then_some(e.errno);
    let made = ChildError::type_object(py).call1((e.to_string(), e.op.to_string(), errno));
    match made {
        Ok(exc) => {
            let err = PyErr::from_value(exc);
            if e.errno != 0 {
                add_note(py, &err, &note(e));
            }
            err
        }
        Err(err) => err,
    }
}

/// Polls the set-up with the GIL released, checking for signals (Ctrl-C) in between; a
/// failure, a signal or the set-up timeout kills and reaps the child.
fn finish(py: Python<'_>, mut starting: Starting) -> PyResult<Child> {
    let deadline = Instant::now() + SETUP_TIMEOUT;
    loop {
        match py.detach(|| starting.poll(100)) {
            Ok(Some(child)) => return Ok(child),
            Ok(None) => {}
            Err(f) => return Err(to_pyerr(py, f)),
        }
        py.check_signals()?;
        if Instant::now() > deadline {
            let e = Error::condition(format!(
                "the child did not finish its set-up within {} s; it was killed",
                SETUP_TIMEOUT.as_secs()
            ));
            return Err(child_error(py, &e));
        }
    }
}

/// Starts a program in a child in new or joined namespaces; appends (pid, pidfd) to
/// `started` once it runs (a list the caller holds, so that a Ctrl-C raised on the way back
/// to Python cannot lose the child). Used by pyns.spawn, which prepares the arguments.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    py: Python<'_>,
    started: &Bound<'_, PyList>,
    spec: &ChildSpec,
    argv: Vec<Vec<u8>>,
    executables: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    cwd: Option<Vec<u8>>,
    stdio: (i32, i32, i32),
    pass_fds: Vec<i32>,
    close_fds: bool,
) -> PyResult<()> {
    let program = Program {
        argv,
        envp,
        executables,
        cwd,
        stdio: [stdio.0, stdio.1, stdio.2],
        pass_fds,
        close_fds,
    };
    program.check().map_err(PyValueError::new_err)?;
    let (spec, _held) = spec.current(py)?;
    let starting = py
        .detach(|| core::spawn(&spec, &program))
        .map_err(|f| to_pyerr(py, f))?;
    let child = finish(py, starting)?;
    started.append((child.pid, child.pidfd.into_raw_fd()))
}

/// Forks this Python process into a child in new or joined namespaces (fork(2) between the
/// interpreter's hooks, like os.fork). Appends (pid, pidfd, fd) to `started` (a list the
/// caller holds, so that a Ctrl-C raised on the way back to Python cannot lose the child): in
/// the parent once the child is set up, `fd` being the read end of the result pipe; in the
/// child, which then runs the function, (0, -1, write end). With a new pid namespace and an init, `pid` is the init
/// (PID 1 inside), which exits with the function's process (PID 2, its child). Used by
/// pyns.run.
#[pyfunction]
pub fn fork(py: Python<'_>, started: &Bound<'_, PyList>, spec: &ChildSpec) -> PyResult<()> {
    let (spec, _held) = spec.current(py)?;
    let hooks = ForkHooks {
        before: pyo3::ffi::PyOS_BeforeFork,
        after_parent: pyo3::ffi::PyOS_AfterFork_Parent,
        after_child: pyo3::ffi::PyOS_AfterFork_Child,
    };
    // Taken with the GIL released: its holder may run Python (the fork callbacks).
    let lock = py.detach(core::StartLock::acquire);
    match core::fork::fork(&spec, &hooks, lock).map_err(|f| to_pyerr(py, f))? {
        Forked::Child(result) => started.append((0, -1, result.into_raw_fd())),
        Forked::Parent(starting, result) => {
            let child = finish(py, starting)?;
            started.append((child.pid, child.pidfd.into_raw_fd(), result.into_raw_fd()))
        }
    }
}
