//! Anonymous memory files (memfd_create(2)) written whole and replaced atomically: what a
//! process publishes for others to read through `/proc/PID/fd/N`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::sys::error::{Error, Result};

/// A new close-on-exec memfd named `name` (shown as `/memfd:NAME` in `/proc/PID/fd`).
pub fn create(name: &str) -> Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| Error::new("memfd_create", libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated string for the length of the call.
    let fd = unsafe { libc::memfd_create(c.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last("memfd_create"));
    }
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Appends all of `data` at the file's offset.
pub fn write_all(fd: &OwnedFd, mut data: &[u8]) -> Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is a valid buffer of `data.len()` bytes for the length of the call.
        let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = Error::last("write to a memfd");
            if e.errno == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        data = &data[n.unsigned_abs()..];
    }
    Ok(())
}

/// Makes `fd` refer to the file of `by` (dup3(2), atomic: a reader opening `fd` at the same
/// time gets the old file or the new one).
pub fn replace(fd: &OwnedFd, by: &OwnedFd) -> Result<()> {
    // SAFETY: both descriptors are open and owned; dup3 only changes what `fd` refers to.
    if unsafe { libc::dup3(by.as_raw_fd(), fd.as_raw_fd(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::last("dup3 a memfd"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memfd_is_written_and_replaced() {
        let a = create("pyns-test").unwrap();
        let b = create("pyns-test").unwrap();
        write_all(&a, b"old").unwrap();
        write_all(&b, b"new").unwrap();
        replace(&a, &b).unwrap();
        let text = std::fs::read(format!("/proc/self/fd/{}", a.as_raw_fd())).unwrap();
        assert_eq!(text, b"new");
    }
}
