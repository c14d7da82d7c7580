//! The caller's end of `pyns.run`: the forked function's result and exit, waited for in one
//! call with the GIL released (see `sys::result`).

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::sys::result::{reap, ResultReader, Wait};

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
    let mut reader = ResultReader::new(fd, pidfd);
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
