//! iproute2's named network namespaces (ip-netns(8)): each one is a bind mount of its nsfs file
//! on `/run/netns/<name>`, and `/run/netns` is a shared mount point so that the mounts reach
//! every mount namespace.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{mkdir, unlink};

use crate::sys::error::{Context, Error, Result};
use crate::sys::mount::{set_propagation, Propagation};
use crate::sys::ns::{Kind, Namespace};
use crate::sys::thread::ThreadGuard;

/// Where iproute2 keeps named network namespaces.
pub const RUN_DIR: &str = "/run/netns";

/// Checks a namespace name as `ip netns` does: not empty, not `.` or `..`, no `/` (nor NUL),
/// at most 255 bytes (a file name).
pub fn validate_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(format!(
            "bad network namespace name {name:?}: it names a file in {RUN_DIR}, so it cannot be \
             empty, '.' or '..', or contain '/'"
        ));
    }
    if name.len() > 255 {
        return Err(format!(
            "network namespace name is {} bytes long; at most 255",
            name.len()
        ));
    }
    Ok(())
}

/// `/run/netns/<name>` (the name must be valid).
pub fn path(name: &str) -> PathBuf {
    Path::new(RUN_DIR).join(name)
}

/// Makes `/run/netns` (mkdir(2) if missing) a shared mount point, binding it onto itself first
/// if it is not a mount point yet (mount(2) MS_BIND, then MS_SHARED), as `ip netns add` does.
fn prepare_run_dir() -> Result<()> {
    let dir = Path::new(RUN_DIR);
    match mkdir(dir, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::new("mkdir", e as i32).at(dir)),
    }
    match set_propagation(dir, Propagation::Shared, true) {
        Err(e) if e.errno == libc::EINVAL => {
            mount(
                Some(dir),
                dir,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .op("bind-mount /run/netns onto itself (mount MS_BIND)")
            .map_err(|e| e.at(dir))?;
            set_propagation(dir, Propagation::Shared, true)
        }
        r => r,
    }
}

/// Creates a network namespace named `name`, like `ip netns add`: a new namespace (unshare(2)
/// on the calling thread, which then returns to its own) bind-mounted on `/run/netns/<name>`.
pub fn add(name: &str) -> Result<Namespace> {
    let ns = {
        let mut guard = ThreadGuard::unshare(&[Kind::Net])?;
        let ns = Namespace::current(Kind::Net);
        guard.restore()?;
        ns?
    };
    persist(&ns, name)?;
    Ok(ns)
}

/// Names an existing network namespace `name`, as `ip netns add` would have: a bind mount
/// (mount(2) MS_BIND) of it on `/run/netns/<name>`, which must not exist yet.
pub fn persist(ns: &Namespace, name: &str) -> Result<()> {
    prepare_run_dir()?;
    let file = path(name);
    open(
        &file,
        OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .op("create the namespace file")
    .map_err(|e| e.at(&file))?;
    let r = ns.persist(&file);
    if r.is_err() {
        let _ = unlink(&file);
    }
    r
}

/// Removes the named network namespace, like `ip netns delete`: lazy unmount (umount2(2)
/// MNT_DETACH), then unlink(2) of the file. The namespace itself lives on while anything
/// (a process, an open handle) still holds it.
pub fn remove(name: &str) -> Result<()> {
    let file = path(name);
    match umount2(&file, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a leftover file): removing it is all there is to do.
        Ok(()) | Err(Errno::EINVAL) => {}
        Err(e) => {
            return Err(
                Error::new("unmount the namespace (umount2 MNT_DETACH)", e as i32).at(&file),
            )
        }
    }
    unlink(&file)
        .op("remove the namespace file")
        .map_err(|e| e.at(&file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("blue").is_ok());
        assert!(validate_name("a.b-c_d").is_ok());
        for bad in ["", ".", "..", "a/b", "/abs", "a\0"] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.contains("bad network namespace name"), "{e}");
        }
        assert!(validate_name(&"x".repeat(256)).is_err());
        assert_eq!(path("blue"), Path::new("/run/netns/blue"));
    }
}
