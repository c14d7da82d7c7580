//! Mounts: propagation types, proc, bind, tmpfs and umount (mount(2), mount_namespaces(7)).

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};

use super::error::{check, Context, Error, Result};
pub use super::mountinfo::Propagation;
use super::mountinfo::{self, MountInfo};

/// What an EPERM from a mount call means is missing (the note of the Python exception).
const NEEDS: &str = "CAP_SYS_ADMIN (rootless: a pyns.run/spawn child with user=True, mnt=True)";

/// The mount(2) flag that sets propagation type `p`.
fn propagation_flag(p: Propagation) -> MsFlags {
    match p {
        Propagation::Shared => MsFlags::MS_SHARED,
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Slave => MsFlags::MS_SLAVE,
        Propagation::Unbindable => MsFlags::MS_UNBINDABLE,
    }
}

/// Changes the propagation type of the mount at `path` (mount(2) with MS_SHARED etc.,
/// MS_REC when `recursive`).
pub fn set_propagation(path: &Path, p: Propagation, recursive: bool) -> Result<()> {
    let flags = if recursive {
        propagation_flag(p) | MsFlags::MS_REC
    } else {
        propagation_flag(p)
    };
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .op("change mount propagation (mount MS_PRIVATE/MS_SHARED/...)")
        .map_err(|e| {
            not_a_mount_point(
                e,
                path,
                "make it one first with pyns.mount.bind(path, path)",
            )
        })
        .map_err(|e| e.at(path).needs(NEEDS))
}

/// Mounts a fresh proc filesystem at `target` (mount(2) "proc", nosuid,nodev,noexec): it shows
/// the processes of the calling thread's PID namespace (proc(5)).
pub fn proc(target: &Path) -> Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), target, Some("proc"), flags, None::<&str>)
        .op("mount proc")
        .map_err(|e| e.at(target).needs(NEEDS))
}

/// Bind-mounts `src` at `dst` (mount(2) MS_BIND, MS_REC when `recursive`). `readonly` needs a
/// second step, as MS_RDONLY is ignored together with MS_BIND: mount_setattr(2) with
/// MOUNT_ATTR_RDONLY (AT_RECURSIVE for the submounts too), which keeps the flags a user
/// namespace may not clear; the result is checked with statvfs(3), and a bind that could
/// not be made read-only is undone.
pub fn bind(src: &Path, dst: &Path, readonly: bool, recursive: bool) -> Result<()> {
    let flags = if recursive {
        MsFlags::MS_BIND | MsFlags::MS_REC
    } else {
        MsFlags::MS_BIND
    };
    mount(Some(src), dst, None::<&str>, flags, None::<&str>)
        .op("bind mount (mount MS_BIND)")
        .map_err(|e| {
            let missing = e.errno == libc::ENOENT && !src.exists();
            e.at(if missing { src } else { dst }).needs(NEEDS)
        })?;
    if readonly {
        if let Err(e) = make_readonly(dst, recursive) {
            let _ = umount2(dst, MntFlags::MNT_DETACH);
            return Err(e);
        }
    }
    Ok(())
}

fn make_readonly(dst: &Path, recursive: bool) -> Result<()> {
    const OP: &str = "make the bind mount read-only (mount_setattr MOUNT_ATTR_RDONLY)";
    let c = c_path(dst, OP)?;
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `c` is a NUL-terminated path and `attr` a mount_attr of the size passed, both
    // alive for the call; the kernel only reads them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    check(if r < 0 { -1 } else { 0 }, OP).map_err(|e| e.at(dst).needs(NEEDS))?;
    let st = statvfs(dst)
        .op("check the bind mount is read-only (statvfs)")
        .map_err(|e| e.at(dst))?;
    if !st.flags().contains(FsFlags::ST_RDONLY) {
        return Err(Error::condition(format!(
            "the bind mount at {} is still writable after mount_setattr(MOUNT_ATTR_RDONLY)",
            dst.display()
        )));
    }
    Ok(())
}

/// Checks tmpfs' `size=` option: a number of bytes with an optional k/m/g suffix, or a
/// percentage of RAM (`"50%"`); zero (which tmpfs takes as "no limit") is refused.
pub fn validate_tmpfs_size(size: &str) -> std::result::Result<(), String> {
    let digits = size.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', '%']);
    let ok = !digits.is_empty()
        && size.len() - digits.len() <= 1
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.bytes().any(|b| b != b'0');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tmpfs size must be a positive number of bytes, optionally with a k/m/g suffix, \
             or a percentage like '50%', not {size:?}"
        ))
    }
}

/// Mounts a tmpfs at `target` (mount(2), tmpfs(5) options `size=` and `mode=`).
/// `size` must have passed `validate_tmpfs_size`; `mode` is at most 0o7777.
pub fn tmpfs(target: &Path, size: Option<&str>, mode: Option<u32>) -> Result<()> {
    let mut data = Vec::new();
    if let Some(s) = size {
        data.push(format!("size={s}"));
    }
    if let Some(m) = mode {
        data.push(format!("mode={m:o}"));
    }
    let data = data.join(",");
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .op("mount tmpfs")
    .map_err(|e| e.at(target).needs(NEEDS))
}

/// Unmounts the mount at `target` (umount2(2); MNT_DETACH when `lazy`).
pub fn umount(target: &Path, lazy: bool) -> Result<()> {
    let flags = if lazy {
        MntFlags::MNT_DETACH
    } else {
        MntFlags::empty()
    };
    umount2(target, flags)
        .op("unmount (umount2)")
        .map_err(|e| not_a_mount_point(e, target, "nothing to unmount"))
        .map_err(|e| e.at(target).needs(NEEDS))
}

/// An EINVAL from a call on a path that is no mount point, said plainly with `advice`.
fn not_a_mount_point(e: Error, path: &Path, advice: &str) -> Error {
    if e.errno == libc::EINVAL && matches!(is_mount_point(path), Ok(false)) {
        return Error::new(
            format!("{}: the path is not a mount point ({advice})", e.op),
            libc::EINVAL,
        );
    }
    e
}

/// The mount table of a process (`/proc/<pid>/mountinfo`), or of the calling thread's mount
/// namespace (`/proc/thread-self/mountinfo`), parsed (proc_pid_mountinfo(5)).
pub fn mounts(pid: Option<libc::pid_t>) -> Result<Vec<MountInfo>> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/mountinfo"),
        None => "/proc/thread-self/mountinfo".to_owned(),
    };
    let text = std::fs::read(&path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        if errno == libc::ENOENT && pid.is_some() {
            Error::new(
                format!("read the mount table of process {}", pid.unwrap_or(0)),
                libc::ESRCH,
            )
        } else {
            Error::new("read the mount table", errno).at(&path)
        }
    })?;
    mountinfo::parse(&text)
}

/// The mount that `path` is on, in the calling thread's mount namespace (statx(2)
/// STATX_MNT_ID, looked up in `/proc/thread-self/mountinfo`).
pub fn mount_of(path: &Path) -> Result<MountInfo> {
    let stx = statx(path, libc::STATX_MNT_ID)?;
    if stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(Error::condition(
            "this kernel's statx(2) has no STATX_MNT_ID (Linux < 5.8)",
        ));
    }
    mounts(None)?
        .into_iter()
        .find(|m| m.mount_id == stx.stx_mnt_id)
        .ok_or_else(|| {
            Error::condition(format!(
                "mount {} of {} is not in /proc/thread-self/mountinfo",
                stx.stx_mnt_id,
                path.display()
            ))
        })
}

/// Whether `path` is the root of a mount (statx(2) STATX_ATTR_MOUNT_ROOT).
pub fn is_mount_point(path: &Path) -> Result<bool> {
    let stx = statx(path, 0)?;
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if stx.stx_attributes_mask & bit == 0 {
        return Err(Error::condition(
            "this kernel's statx(2) has no STATX_ATTR_MOUNT_ROOT",
        ));
    }
    Ok(stx.stx_attributes & bit != 0)
}

fn statx(path: &Path, mask: libc::c_uint) -> Result<libc::statx> {
    const OP: &str = "look the path up (statx)";
    let c = c_path(path, OP)?;
    let mut stx = MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `stx` writable memory for one struct statx.
    let r = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), 0, mask, stx.as_mut_ptr()) };
    check(r, OP).map_err(|e| e.at(path))?;
    // SAFETY: the struct was zeroed (a valid statx: all integers) and statx filled it in.
    Ok(unsafe { stx.assume_init() })
}

fn c_path(path: &Path, op: &'static str) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::new(op, libc::EINVAL).at(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        for n in Propagation::NAMES {
            assert_eq!(Propagation::from_name(n).map(Propagation::name), Some(n));
        }
        assert_eq!(Propagation::from_name("rprivate"), None);
    }

    #[test]
    fn tmpfs_sizes() {
        for ok in ["1", "4096", "16k", "2M", "1g", "50%", "010"] {
            assert_eq!(validate_tmpfs_size(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "0", "00k", "k", "-1", "1.5M", "1MM", "1 M", "size=1", "1t",
        ] {
            assert!(validate_tmpfs_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn root_is_a_mount_point_and_etc_is_not() {
        assert_eq!(is_mount_point(Path::new("/")), Ok(true));
        assert_eq!(is_mount_point(Path::new("/proc")), Ok(true));
        assert_eq!(is_mount_point(Path::new("/proc/self")), Ok(false));
        let e = is_mount_point(Path::new("/nonexistent/x")).unwrap_err();
        assert_eq!(e.errno, libc::ENOENT);
    }

    #[test]
    fn mount_of_proc_is_proc() {
        let m = mount_of(Path::new("/proc/self/status")).unwrap();
        assert_eq!(m.fstype, "proc");
        assert_eq!(m.mount_point, "/proc");
    }
}
