//! The caller's end of `pyns.run`: the forked function's result and exit, waited for in one
//! call with the GIL released (see `sys::result`); `pyns.aio.run` reads the same frame from
//! its event loop through `ResultReader`.

use std::os::fd::RawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::namespace::lock;
use crate::sys::result::{self, reap, Wait};

/// Adds `wait_result`, `close_fds` and `ResultReader` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(wait_result, m)?)?;
    m.add_function(wrap_pyfunction!(close_fds, m)?)?;
    m.add_class::<ResultReader>()
}

/// Waits for the framed result of the function that `fork` started (`fd`: the result
/// pipe's read end) until it is complete or the child (`pidfd`) exits, at most `timeout`
/// seconds (None: for ever); then waits for the child's exit and reaps it. Signals are
/// handled in between (a Ctrl-C raises KeyboardInterrupt; the child is then not reaped).
///
/// Returns (payload, returncode), the payload empty if the child exited without writing all
/// of it; None if the timeout expired first (the child is not reaped).
#[pyfunction]
#[pyo3(signature = (fd, pidfd, timeout=None))]
pub fn wait_result(
    py: Python<'_>,
    fd: RawFd,
    pidfd: RawFd,
    timeout: Option<f64>,
) -> PyResult<Option<(Py<PyBytes>, i32)>> {
    // A deadline too far to represent is none.
    let deadline = timeout.and_then(|t| {
        let after = Duration::try_from_secs_f64(t.max(0.0)).ok()?;
        Instant::now().checked_add(after)
    });
    let mut reader = result::ResultReader::new(fd, pidfd);
    let payload = loop {
        match py.detach(|| reader.wait(deadline))? {
            Wait::Done(payload) => break payload,
            Wait::Interrupted => py.check_signals()?,
            Wait::TimedOut => return Ok(None),
        }
    };
    let returncode = loop {
        match py.detach(|| reap(pidfd))? {
            Some(code) => break code,
            None => py.check_signals()?,
        }
    };
    Ok(Some((PyBytes::new(py, &payload).unbind(), returncode)))
}

/// Closes every fd in `fds` (those of a child `fork` started: its pidfd and result pipe),
/// all in one call: Python runs its signal handlers between calls, so a Ctrl-C cannot come
/// between two of them and leave the rest open.
#[pyfunction]
#[pyo3(signature = (*fds))]
pub fn close_fds(fds: Vec<RawFd>) {
    for fd in fds {
        // SAFETY: the caller owns `fd` and gives it up here; nothing uses it afterwards.
        unsafe { libc::close(fd) };
    }
}

/// The frame of a child that `fork` started, read without waiting, for an event loop that
/// calls `read()` whenever `fd` (the result pipe's read end) or `pidfd` is readable. Both
/// fds stay the caller's.
#[pyclass(name = "ResultReader", module = "pyns._native", frozen)]
pub struct ResultReader(Mutex<result::ResultReader>);

#[pymethods]
impl ResultReader {
    #[new]
    fn new(fd: RawFd, pidfd: RawFd) -> Self {
        ResultReader(Mutex::new(result::ResultReader::new(fd, pidfd)))
    }

    /// Reads what is there: the payload once the whole frame has come, b"" if the child
    /// exited (or the pipe reached EOF) before it did, None if more is to come.
    fn read(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        loop {
            // Not held while a signal handler runs: it may use this reader too.
            let waited = lock(&self.0).wait(Some(Instant::now()))?;
            match waited {
                Wait::Done(payload) => return Ok(Some(PyBytes::new(py, &payload).unbind())),
                Wait::Interrupted => py.check_signals()?,
                Wait::TimedOut => return Ok(None),
            }
        }
    }
}
