//! The one error type of the syscall core: what was being done, the errno, and the path.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// A failed step: `op` says what pyns was doing ("unshare(CLONE_NEWUTS)"), `errno` is the
/// kernel's answer (0: a condition pyns found itself, with no errno), `path` the file involved,
/// and `needs` the privilege that an EPERM means is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub op: Cow<'static, str>,
    pub errno: i32,
    pub path: Option<PathBuf>,
    pub needs: &'static str,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with an explicit errno.
    pub fn new(op: impl Into<Cow<'static, str>>, errno: i32) -> Self {
        Error {
            op: op.into(),
            errno,
            path: None,
            needs: "CAP_SYS_ADMIN",
        }
    }

    /// A condition pyns detected itself (no errno): `op` is the whole message.
    pub fn condition(msg: impl Into<Cow<'static, str>>) -> Self {
        Error::new(msg, 0)
    }

    /// An error from the calling thread's `errno` (errno(3)).
    pub fn last(op: impl Into<Cow<'static, str>>) -> Self {
        Error::new(
            op,
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    }

    /// The same error, naming the file involved.
    pub fn at(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(path.as_ref().to_path_buf());
        self
    }

    /// The same error, naming the capability that EPERM means is missing.
    pub fn needs(mut self, capability: &'static str) -> Self {
        self.needs = capability;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errno == 0 {
            return f.write_str(&self.op);
        }
        let msg = std::io::Error::from_raw_os_error(self.errno);
        match &self.path {
            Some(p) => write!(f, "{}: {}: {}", self.op, p.display(), msg),
            None => write!(f, "{}: {}", self.op, msg),
        }
    }
}

impl std::error::Error for Error {}

/// Turns a libc return value into a `Result`: negative means failure with `errno`.
pub fn check(ret: libc::c_int, op: impl Into<Cow<'static, str>>) -> Result<libc::c_int> {
    if ret < 0 {
        Err(Error::last(op))
    } else {
        Ok(ret)
    }
}

/// Like `check`, building the step's name only on failure (for hot paths).
pub fn check_with(ret: libc::c_int, op: impl FnOnce() -> String) -> Result<libc::c_int> {
    if ret < 0 {
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        Err(Error::new(op(), errno))
    } else {
        Ok(ret)
    }
}

/// Names the step of a failed `nix` call: `nix::sched::unshare(f).op("unshare")?`.
pub trait Context<T> {
    fn op(self, op: impl Into<Cow<'static, str>>) -> Result<T>;
}

impl<T> Context<T> for nix::Result<T> {
    fn op(self, op: impl Into<Cow<'static, str>>) -> Result<T> {
        self.map_err(|e| Error::new(op, e as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_op_path_and_errno() {
        let e = Error::new("open namespace file", libc::ENOENT).at("/proc/1/ns/xyz");
        assert_eq!(
            e.to_string(),
            "open namespace file: /proc/1/ns/xyz: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn condition_is_its_message() {
        assert_eq!(
            Error::condition("not a namespace").to_string(),
            "not a namespace"
        );
    }

    #[test]
    fn check_passes_success_through() {
        assert_eq!(check(3, "x"), Ok(3));
    }

    #[test]
    fn nix_errors_keep_errno() {
        let r: nix::Result<()> = Err(nix::errno::Errno::EPERM);
        assert_eq!(r.op("setns").unwrap_err().errno, libc::EPERM);
    }
}
