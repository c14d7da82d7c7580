//! The one error type of the syscall core: what was being done, the errno, and the path.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of failure an `Error` is; it picks the Python exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The kernel refused a syscall: `errno` says why (an `OSError` subclass in Python).
    Os,
    /// A condition pyns found itself (`pyns.NamespaceError`).
    Condition,
    /// What was asked cannot be done this way (`pyns.UnsupportedError`).
    Unsupported,
    /// A file given as a namespace is not one, or not of the kind asked for
    /// (`pyns.NotANamespaceError`, a `ValueError`).
    NotANamespace,
}

/// A failed step: `op` says what pyns was doing ("unshare(CLONE_NEWUTS)"), `kind` what sort of
/// failure it is, `errno` the kernel's answer (0 unless `kind` is `Os`), `path` the file
/// involved, `needs` the privilege that an EPERM means is missing, and `hint` an explicit fix
/// that replaces the one derived from `needs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub op: Cow<'static, str>,
    pub kind: ErrorKind,
    pub errno: i32,
    pub path: Option<PathBuf>,
    pub needs: &'static str,
    pub hint: Option<Cow<'static, str>>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A failed syscall: the step and the kernel's errno.
    pub fn new(op: impl Into<Cow<'static, str>>, errno: i32) -> Self {
        Error {
            op: op.into(),
            kind: ErrorKind::Os,
            errno,
            path: None,
            needs: "CAP_SYS_ADMIN",
            hint: None,
        }
    }

    /// A failure of `kind` that pyns detected itself (no errno): `msg` is the whole message.
    pub fn of_kind(kind: ErrorKind, msg: impl Into<Cow<'static, str>>) -> Self {
        Error {
            kind,
            ..Error::new(msg, 0)
        }
    }

    /// A condition pyns detected itself (no errno): `msg` is the whole message.
    pub fn condition(msg: impl Into<Cow<'static, str>>) -> Self {
        Error::of_kind(ErrorKind::Condition, msg)
    }

    /// Something that cannot be done this way: `msg` says what to use instead.
    pub fn unsupported(msg: impl Into<Cow<'static, str>>) -> Self {
        Error::of_kind(ErrorKind::Unsupported, msg)
    }

    /// A file that is not a namespace (of the kind asked for).
    pub fn not_a_namespace(msg: impl Into<Cow<'static, str>>) -> Self {
        Error::of_kind(ErrorKind::NotANamespace, msg)
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

    /// The same error with an explicit hint: the missing privilege and the fix.
    pub fn hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The missing privilege and the fix: the explicit hint, else for EPERM the one that
    /// `needs` implies; None when there is nothing to say.
    pub fn advice(&self) -> Option<Cow<'static, str>> {
        if let Some(h) = &self.hint {
            return Some(h.clone());
        }
        (self.kind == ErrorKind::Os && self.errno == libc::EPERM).then(|| {
            format!(
                "This needs {} in the user namespace that owns the namespace involved. Run as \
                 root, or do it in a child that owns a user namespace: \
                 pyns.spawn(..., user=True) or pyns.run(..., user=True).",
                self.needs
            )
            .into()
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != ErrorKind::Os {
            return match &self.path {
                Some(p) => write!(f, "{}: {}", p.display(), self.op),
                None => f.write_str(&self.op),
            };
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
    fn kinds_and_advice() {
        let e = Error::not_a_namespace("not a namespace file").at("/etc/hostname");
        assert_eq!(e.kind, ErrorKind::NotANamespace);
        assert_eq!(e.to_string(), "/etc/hostname: not a namespace file");
        assert_eq!(e.advice(), None);
        let e = Error::new("setns", libc::EPERM).needs("CAP_X");
        assert!(e.advice().unwrap().contains("CAP_X"));
        let e = Error::new("open", libc::EACCES).hint("be root");
        assert_eq!(e.advice().as_deref(), Some("be root"));
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
