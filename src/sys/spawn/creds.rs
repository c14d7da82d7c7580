//! What subprocess.Popen sets in its child before exec (`umask`, `start_new_session`,
//! `process_group`, `extra_groups`, `group`, `user`), in Popen's order, as the child's last
//! set-up step: after every namespace step (the ids are those of the child's user namespace,
//! its maps written), and for `spawn` after its chdir, as Popen does. Raw system calls only,
//! like the rest of the child's set-up (the child may share the caller's memory).

use super::channel::{Failure, Step};
use super::raw;

/// The most supplementary groups Linux takes (NGROUPS_MAX).
const MAX_GROUPS: usize = 65536;

/// The subprocess-style attributes of the program's (or function's) process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Creds {
    /// umask(2): the permission bits to clear (at most 0o777).
    pub umask: Option<u32>,
    /// setsid(2): a new session and process group, led by the child.
    pub new_session: bool,
    /// setpgid(0, pgid): join process group `pgid` (0: lead a new one).
    pub process_group: Option<i32>,
    /// setgroups(2): the supplementary groups (empty: none).
    pub groups: Option<Vec<u32>>,
    /// setresgid(2): real, effective and saved gid.
    pub gid: Option<u32>,
    /// setresuid(2): real, effective and saved uid.
    pub uid: Option<u32>,
}

impl Creds {
    /// Checks the values before any syscall; the message names the argument.
    pub fn check(&self) -> Result<(), String> {
        if self.umask.is_some_and(|m| m > 0o777) {
            return Err("umask must be at most 0o777".into());
        }
        if self.process_group.is_some_and(|g| g < 0) {
            return Err("process_group must be a process group id >= 0".into());
        }
        if self.new_session && self.process_group.is_some() {
            return Err(
                "start_new_session=True and process_group exclude each other: the \
                 new session's leader cannot change its process group (setpgid fails with EPERM)"
                    .into(),
            );
        }
        // (uid_t)-1 means "unchanged" to the kernel.
        for (what, id) in [("group", self.gid), ("user", self.uid)] {
            if id == Some(u32::MAX) {
                return Err(format!("{what} id {} is not a valid id", u32::MAX));
            }
        }
        if let Some(groups) = &self.groups {
            if groups.len() > MAX_GROUPS {
                return Err(format!("extra_groups has more than {MAX_GROUPS} groups"));
            }
            if groups.contains(&u32::MAX) {
                return Err(format!(
                    "extra_groups: {} is not a valid group id",
                    u32::MAX
                ));
            }
        }
        Ok(())
    }
}

fn check(r: isize, step: Step, arg: i32) -> Result<(), Failure> {
    if r < 0 {
        return Err(Failure {
            step,
            arg,
            errno: (-r) as i32,
        });
    }
    Ok(())
}

/// Sets `c` on the calling process, in Popen's order: umask, setsid, setpgid, setgroups,
/// setresgid, setresuid. A change of the effective uid or gid clears the parent-death signal
/// (prctl(2)): it is set again after, and the process exits if its parent died in between.
pub fn apply(c: &Creds) -> Result<(), Failure> {
    if let Some(mask) = c.umask {
        // SAFETY: umask touches no memory and cannot fail.
        unsafe { raw::syscall(libc::SYS_umask, [mask as usize, 0, 0, 0, 0, 0]) };
    }
    if c.new_session {
        // SAFETY: touches no memory.
        let r = unsafe { raw::syscall(libc::SYS_setsid, [0; 6]) };
        check(r, Step::Setsid, 0)?;
    }
    if let Some(pgid) = c.process_group {
        // SAFETY: touches no memory.
        let r = unsafe { raw::syscall(libc::SYS_setpgid, [0, pgid as usize, 0, 0, 0, 0]) };
        check(r, Step::Setpgid, pgid)?;
    }
    let mut pdeathsig: libc::c_int = 0;
    if c.gid.is_some() || c.uid.is_some() {
        let at = &mut pdeathsig as *mut libc::c_int as usize;
        // SAFETY: PR_GET_PDEATHSIG writes one int, at `pdeathsig` on this stack.
        unsafe {
            raw::syscall(
                libc::SYS_prctl,
                [libc::PR_GET_PDEATHSIG as usize, at, 0, 0, 0, 0],
            )
        };
    }
    let parent = raw::getppid();
    if let Some(groups) = &c.groups {
        let a = [groups.len(), groups.as_ptr() as usize, 0, 0, 0, 0];
        // SAFETY: the kernel reads `len` gid_t (u32) values from the vector.
        let r = unsafe { raw::syscall(libc::SYS_setgroups, a) };
        check(r, Step::Setgroups, groups.len() as i32)?;
    }
    if let Some(gid) = c.gid {
        check(raw::setresgid(gid), Step::Setgid, gid as i32)?;
    }
    if let Some(uid) = c.uid {
        check(raw::setresuid(uid), Step::Setuid, uid as i32)?;
    }
    if pdeathsig != 0 {
        let r = raw::prctl(libc::PR_SET_PDEATHSIG, pdeathsig as usize);
        check(r, Step::Pdeathsig, pdeathsig)?;
        if raw::getppid() != parent {
            raw::exit(1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_argument() {
        let bad = |c: Creds| c.check().unwrap_err();
        assert!(bad(Creds {
            umask: Some(0o1000),
            ..Creds::default()
        })
        .contains("umask"));
        assert!(bad(Creds {
            process_group: Some(-1),
            ..Creds::default()
        })
        .contains("process_group"));
        assert!(bad(Creds {
            new_session: true,
            process_group: Some(0),
            ..Creds::default()
        })
        .contains("exclude"));
        assert!(bad(Creds {
            uid: Some(u32::MAX),
            ..Creds::default()
        })
        .contains("user"));
        assert!(bad(Creds {
            groups: Some(vec![0; MAX_GROUPS + 1]),
            ..Creds::default()
        })
        .contains("extra_groups"));
        assert!(Creds {
            umask: Some(0o77),
            process_group: Some(0),
            groups: Some(vec![]),
            gid: Some(0),
            uid: Some(0),
            ..Creds::default()
        }
        .check()
        .is_ok());
    }
}
