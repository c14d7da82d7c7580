//! A host's own files: mounts made inside another mount namespace (binds that do not follow
//! symlinks, overlays, tmpfs), and `ip netns exec`'s switch of `/etc` and `/sys`.
//!
//! The mounts are made by the helper thread that creates a node's mount namespace (see
//! `net::node`), or that makes `ip netns exec`'s, so the caller's threads and mount namespace
//! never see them.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::error::{check, Context, Error, Result};
use super::kind::Kind;
use super::mount::{set_propagation, Propagation};
use super::ns::{self, Namespace};

/// What an EPERM from these mounts means is missing.
const NEEDS: &str = "CAP_SYS_ADMIN (rootless: a pyns.run/spawn child with user=True)";

/// One step of setting up a host's files, made in order.
#[derive(Debug, Clone)]
pub enum Op {
    /// Mounts `src` itself at `dst`, neither followed if it is a symlink (open_tree(2) with
    /// AT_SYMLINK_NOFOLLOW, then move_mount(2)): a symlink bound over `/etc/hosts` is read
    /// by path at every open, so replacing its target by rename(2) is seen by everyone.
    Bind { src: PathBuf, dst: PathBuf },
    /// A fresh tmpfs at `dst` with mode `mode`.
    Tmpfs { dst: PathBuf, mode: u32 },
    /// An overlay over the directory `dir` (its own lower layer) whose upper layer is
    /// `upper` (with its work directory `work`): what `upper` holds appears in `dir`.
    Overlay {
        dir: PathBuf,
        upper: PathBuf,
        work: PathBuf,
    },
    /// A directory (and its missing parents), then given mode `mode` (umask aside).
    Mkdir { path: PathBuf, mode: u32 },
    /// A file with `data` and mode `mode`, replacing one that exists.
    Write {
        path: PathBuf,
        data: Vec<u8>,
        mode: u32,
    },
    /// Takes a detached copy of the mounts at `src` (open_tree(2), recursive), to put back
    /// with `Attach` once a later mount (a private tmpfs) has covered `src`.
    Hold { src: PathBuf },
    /// Mounts the `index`-th copy taken by `Hold` at `dst`.
    Attach { index: usize, dst: PathBuf },
}

/// Makes `ops` in order in the calling thread's mount namespace.
pub fn apply_all(ops: &[Op]) -> Result<()> {
    let mut held = Vec::new();
    for op in ops {
        match op {
            Op::Hold { src } => held.push(open_tree(src, libc::AT_RECURSIVE as u32)?),
            Op::Attach { index, dst } => {
                let tree = held.get(*index).ok_or_else(|| {
                    Error::condition(format!("no mounts held with index {index}"))
                })?;
                move_mount(tree, dst)?;
            }
            op => apply(op)?,
        }
    }
    Ok(())
}

/// Makes one op (but `Hold`/`Attach`, see `apply_all`) in the calling thread's mount namespace.
fn apply(op: &Op) -> Result<()> {
    match op {
        Op::Hold { .. } | Op::Attach { .. } => Err(Error::condition("Hold/Attach need apply_all")),
        Op::Bind { src, dst } => bind_nofollow(src, dst),
        Op::Tmpfs { dst, mode } => mount(
            Some("tmpfs"),
            dst.as_path(),
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(format!("mode={mode:o}").as_str()),
        )
        .op("mount a private tmpfs in the host")
        .map_err(|e| e.at(dst).needs(NEEDS)),
        Op::Overlay { dir, upper, work } => overlay(dir, upper, work),
        Op::Mkdir { path, mode } => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .create(path)
                .and_then(|()| {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                })
                .map_err(|e| io("make a directory in the host", &e, path))
        }
        Op::Write { path, data, mode } => {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(*mode)
                .open(path)
                .and_then(|mut f| f.write_all(data))
                .map_err(|e| io("write a file in the host", &e, path))
        }
    }
}

fn io(op: &'static str, e: &std::io::Error, path: &Path) -> Error {
    Error::new(op, e.raw_os_error().unwrap_or(libc::EIO)).at(path)
}

fn c_path(p: &Path, op: &'static str) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::new(op, libc::EINVAL).at(p))
}

/// open_tree(2) of `src` (not followed) and move_mount(2) of the copy onto `dst` (not
/// followed either: a symlink at `dst` is covered, not its target).
fn bind_nofollow(src: &Path, dst: &Path) -> Result<()> {
    let tree = open_tree(src, libc::AT_SYMLINK_NOFOLLOW as u32)?;
    move_mount(&tree, dst)
}

const BIND: &str = "bind a file over the machine's in the host (open_tree, move_mount)";

/// A detached copy of the mount at `src` (open_tree(2) OPEN_TREE_CLONE, plus `flags`).
fn open_tree(src: &Path, flags: u32) -> Result<OwnedFd> {
    let s = c_path(src, BIND)?;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | flags;
    // SAFETY: `s` is a NUL-terminated path alive for the call; the fd returned is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, s.as_ptr(), flags) };
    check(i32::try_from(fd).unwrap_or(-1), BIND).map_err(|e| e.at(src).needs(NEEDS))?;
    // SAFETY: open_tree just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// move_mount(2) of the detached `tree` onto `dst` (a symlink at `dst` is not followed).
fn move_mount(tree: &OwnedFd, dst: &Path) -> Result<()> {
    let d = c_path(dst, BIND)?;
    // SAFETY: the fd is open, "" and `d` are NUL-terminated and alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            d.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    check(if r < 0 { -1 } else { 0 }, BIND).map_err(|e| e.at(dst).needs(NEEDS))?;
    Ok(())
}

/// An overlay of `dir` over itself with `upper`: `userxattr` (what a user namespace may
/// use) is tried when the plain mount is refused.
fn overlay(dir: &Path, upper: &Path, work: &Path) -> Result<()> {
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        dir.display(),
        upper.display(),
        work.display()
    );
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let try_mount = |data: &str| mount(Some("overlay"), dir, Some("overlay"), flags, Some(data));
    try_mount(&data)
        .or_else(|_| try_mount(&format!("{data},userxattr")))
        .op("mount an overlay over a directory in the host (for files= and private=)")
        .map_err(|e| e.at(dir).needs(NEEDS))
}

/// What `ip netns exec NAME` does between setns(2) and exec (iproute2 ip/ipnetns.c,
/// `netns_switch` and `bind_etc`), on the calling thread, which is in the network namespace
/// already: a new mount namespace (unshare CLONE_NEWNS), `/` made a recursive slave so
/// nothing propagates back, a fresh sysfs of this network namespace on `/sys` (the old one
/// detached first, or covered, read-only if it is, where it cannot be), and every entry of `/etc/netns/NAME`
/// bound over the same name in `/etc` (one that cannot be bound is skipped, as ip warns
/// and goes on). Returns the names that could not be bound.
pub fn netns_switch(name: &str) -> Result<Vec<String>> {
    ns::unshare(libc::CLONE_NEWNS)?;
    set_propagation(Path::new("/"), Propagation::Slave, true)?;
    let sys = Path::new("/sys");
    let mut flags = MsFlags::empty();
    // If /sys cannot be detached, the new sysfs covers it; a read-only one only read-only.
    if umount2(sys, MntFlags::MNT_DETACH).is_err()
        && nix::sys::statvfs::statvfs(sys)
            .is_ok_and(|st| st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(Some(name), sys, Some("sysfs"), flags, None::<&str>)
        .op("mount a sysfs of the network namespace on /sys")
        .map_err(|e| e.at(sys).needs(NEEDS))?;
    let mut skipped = Vec::new();
    let dir = Path::new("/etc/netns").join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(skipped);
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        if file == "." || file == ".." {
            continue;
        }
        let (src, dst) = (entry.path(), Path::new("/etc").join(&file));
        if mount(
            Some(&src),
            &dst,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .is_err()
        {
            skipped.push(file.to_string_lossy().into_owned());
        }
    }
    Ok(skipped)
}

/// A mount namespace as `ip netns exec NAME` gives its program (see `netns_switch`), made
/// by a helper thread inside the network namespace `net`, which is named `name`; returns
/// it with the `/etc/netns/NAME` entries that could not be bound. Whoever joins it (with
/// `net`) sees what `ip netns exec` shows; the caller's mount namespace is untouched.
pub fn netns_exec_mnt(net: &Namespace, name: &str) -> Result<(Namespace, Vec<String>)> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("pyns-netns-exec".into())
            .stack_size(64 * 1024)
            .spawn_scoped(s, || {
                ns::unshare(libc::CLONE_FS)?;
                ns::setns(net.as_fd(), libc::CLONE_NEWNET)?;
                let skipped = netns_switch(name)?;
                Ok((Namespace::current(Kind::Mnt)?, skipped))
            })
            .map_err(|e| {
                Error::new(
                    "start a thread to make the mount namespace of `ip netns exec`",
                    e.raw_os_error().unwrap_or(libc::EAGAIN),
                )
            })?
            .join()
            .unwrap_or_else(|_| Err(Error::condition("the netns exec thread panicked")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::net::node::{create, Spec};

    /// Reads `path` from inside the mount namespace `mnt` (on a thread of its own).
    fn read_in(mnt: &Namespace, path: &Path) -> std::io::Result<String> {
        std::thread::scope(|s| {
            s.spawn(|| {
                ns::unshare(libc::CLONE_FS).unwrap();
                ns::setns(mnt.as_fd(), libc::CLONE_NEWNS).unwrap();
                std::fs::read_to_string(path)
            })
            .join()
            .unwrap()
        })
    }

    #[test]
    fn a_symlink_bound_over_a_file_follows_renames_and_stays_inside() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "hostfs test skipped: needs root");
            return;
        }
        let dir = std::env::temp_dir().join(format!("pyns-hostfs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("store")).unwrap();
        std::fs::write(dir.join("target"), "old\n").unwrap();
        std::fs::write(dir.join("shared"), "one\n").unwrap();
        std::os::unix::fs::symlink(dir.join("shared"), dir.join("link")).unwrap();
        let store = dir.join("store");
        let node = create(&Spec {
            mnt: true,
            mounts: vec![
                Op::Tmpfs {
                    dst: store.clone(),
                    mode: 0o755,
                },
                Op::Write {
                    path: store.join("f"),
                    data: b"mine\n".to_vec(),
                    mode: 0o644,
                },
                Op::Bind {
                    src: dir.join("link"),
                    dst: dir.join("target"),
                },
            ],
            ..Spec::default()
        })
        .unwrap();
        let mnt = node.mnt.as_ref().unwrap();
        assert_eq!(read_in(mnt, &store.join("f")).unwrap(), "mine\n");
        assert_eq!(read_in(mnt, &dir.join("target")).unwrap(), "one\n");
        std::fs::write(dir.join("shared.new"), "two\n").unwrap();
        std::fs::rename(dir.join("shared.new"), dir.join("shared")).unwrap();
        assert_eq!(read_in(mnt, &dir.join("target")).unwrap(), "two\n");
        // the caller's mount namespace has none of it
        assert_eq!(
            std::fs::read_to_string(dir.join("target")).unwrap(),
            "old\n"
        );
        assert!(!store.join("f").exists());
        drop(node);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
