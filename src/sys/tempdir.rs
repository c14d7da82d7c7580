//! Private temporary directories, made with mkdtemp(3) and removed with what they hold.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::sys::error::{Error, Result};

/// A new directory `<parent>/<prefix>XXXXXX`, mode 0700.
pub fn create(parent: &Path, prefix: &str) -> Result<PathBuf> {
    let mut template = parent.as_os_str().as_bytes().to_vec();
    template.extend_from_slice(b"/");
    template.extend_from_slice(prefix.as_bytes());
    template.extend_from_slice(b"XXXXXX");
    let c = CString::new(template).map_err(|_| Error::new("mkdtemp", libc::EINVAL))?;
    let raw = c.into_raw();
    // SAFETY: `raw` is a writable NUL-terminated template that mkdtemp fills in place.
    let made = unsafe { libc::mkdtemp(raw) };
    // SAFETY: `raw` came from CString::into_raw above and is taken back once.
    let c = unsafe { CString::from_raw(raw) };
    if made.is_null() {
        return Err(Error::last(format!("mkdtemp in {}", parent.display())));
    }
    Ok(PathBuf::from(OsString::from_vec(c.into_bytes())))
}

/// Removes `path` and everything in it (symlinks are removed, not followed); a path that is
/// gone already is not an error.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::new(
            format!("remove {}", path.display()),
            e.raw_os_error().unwrap_or(libc::EIO),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_made_and_removed_with_its_contents() {
        let d = create(&std::env::temp_dir(), "pyns-test-").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", d.join("link")).unwrap();
        remove(&d).unwrap();
        assert!(!d.exists() && Path::new("/etc").exists());
        remove(&d).unwrap();
    }
}
