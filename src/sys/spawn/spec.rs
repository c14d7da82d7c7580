//! What a child is to become, and the frozen plan it follows: every buffer (argv, envp, paths,
//! offsets, fd lists) is built here, before the clone, so the child never allocates.

use std::ffi::{c_char, CString};
use std::os::fd::RawFd;
use std::sync::atomic::AtomicI32;

use super::creds::Creds;
use crate::sys::error::{Error, Result};
use crate::sys::idmap::{IdMap, Setgroups};
use crate::sys::ns::Kind;

/// The namespaces and identity of a child (validated by the caller; see `Spec::check`).
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Kinds to create.
    pub new: Vec<Kind>,
    /// Namespaces to join, as open nsfs fds that stay open until the child is started.
    pub join: Vec<(Kind, RawFd)>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub uid_map: Option<IdMap>,
    pub gid_map: Option<IdMap>,
    pub setgroups: Setgroups,
    /// Mount a fresh /proc (needs a new mount namespace).
    pub mount_proc: bool,
    /// With a new pid namespace: PID 1 is pyns' init and the program is PID 2.
    pub init: bool,
    /// Offsets of the new time namespace, in nanoseconds.
    pub monotonic_ns: Option<i64>,
    pub boottime_ns: Option<i64>,
    /// Signal the child gets when the thread that made it exits (0: none).
    pub pdeathsig: i32,
    /// Bring `lo` up in the new network namespace.
    pub loopback: bool,
    /// subprocess's umask, session, process group, groups, gid, uid (set last, see creds.rs).
    pub creds: Creds,
}

/// The program a spawned child runs.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// Paths to try with execve, in order (the PATH search done by the caller).
    pub executables: Vec<Vec<u8>>,
    pub cwd: Option<Vec<u8>>,
    /// Fds to become 0, 1, 2 (-1: inherit).
    pub stdio: [RawFd; 3],
    pub pass_fds: Vec<RawFd>,
    pub close_fds: bool,
}

impl Program {
    /// Checks the program before any syscall (as subprocess does): the message names the
    /// problem.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.argv.is_empty() || self.executables.is_empty() {
            return Err("the program needs at least one argument".into());
        }
        let strings = [
            ("an argument", &self.argv),
            ("an environment entry", &self.envp),
            ("the program path", &self.executables),
        ];
        for (what, list) in strings {
            if let Some(s) = list.iter().find(|s| s.contains(&0)) {
                return Err(format!(
                    "embedded null byte in {what}: {}",
                    String::from_utf8_lossy(s).escape_debug()
                ));
            }
        }
        if self.cwd.as_ref().is_some_and(|c| c.contains(&0)) {
            return Err("embedded null byte in cwd".into());
        }
        Ok(())
    }
}

impl Spec {
    /// Checks the combination before any syscall; the message names the problem.
    pub fn check(&self) -> std::result::Result<(), String> {
        for (k, _) in &self.join {
            if self.new.contains(k) {
                return Err(format!(
                    "the {} namespace is both new and joined; choose one",
                    k.name()
                ));
            }
        }
        let user_new = self.new.contains(&Kind::User);
        if (self.uid_map.is_some() || self.gid_map.is_some()) && !user_new {
            return Err("uid_map/gid_map need a new user namespace (user=True)".into());
        }
        if self.mount_proc && !self.new.contains(&Kind::Mnt) {
            return Err("mount_proc=True needs a new mount namespace (mnt=True)".into());
        }
        if (self.monotonic_ns.is_some() || self.boottime_ns.is_some())
            && !self.new.contains(&Kind::Time)
        {
            return Err("time offsets need a new time namespace (time=True)".into());
        }
        for (what, name) in [
            ("hostname", &self.hostname),
            ("domainname", &self.domainname),
        ] {
            if let Some(n) = name {
                crate::sys::uts::validate(what, n)?;
                if !self.new.contains(&Kind::Uts) {
                    return Err(format!("{what} needs a new uts namespace (uts=True)"));
                }
            }
        }
        self.creds.check()
    }

    /// The text for /proc/<pid>/timens_offsets (time_namespaces(7)).
    pub fn offsets_text(&self) -> String {
        let mut s = String::new();
        for (name, off) in [
            ("monotonic", self.monotonic_ns),
            ("boottime", self.boottime_ns),
        ] {
            if let Some(ns) = off {
                let secs = ns.div_euclid(1_000_000_000);
                let nanos = ns.rem_euclid(1_000_000_000);
                s.push_str(&format!("{name} {secs} {nanos}\n"));
            }
        }
        s
    }
}

/// Which way the child is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// clone3 with the namespace flags: the child starts in them (pid: it is PID 1).
    Clone,
    /// The child joins and unshares itself, then forks if the pid or time namespace needs it.
    Unshare,
}

/// Whether the nsfs fd `fd` is the calling process's user namespace (same device and inode
/// as /proc/self/ns/user; false if either cannot be read).
fn is_own_user_ns(fd: RawFd) -> bool {
    // SAFETY: zeroed stat buffers are valid; fstat/stat write into them.
    unsafe {
        let mut theirs: libc::stat = std::mem::zeroed();
        let mut own: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut theirs) == 0
            && libc::stat(c"/proc/self/ns/user".as_ptr(), &mut own) == 0
            && (theirs.st_dev, theirs.st_ino) == (own.st_dev, own.st_ino)
    }
}

fn cstring(what: &str, bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::condition(format!("{what} must not contain NUL bytes")))
}

/// A NULL-terminated array of pointers into `strings`.
fn pointers(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The program part of a plan.
pub struct ExecPlan {
    pub argv: Vec<CString>,
    pub argv_ptrs: Vec<*const c_char>,
    pub envp: Vec<CString>,
    pub envp_ptrs: Vec<*const c_char>,
    pub executables: Vec<CString>,
    pub cwd: Option<CString>,
    pub stdio: [RawFd; 3],
    pub pass_fds: Vec<RawFd>,
    /// Sorted fds to keep open (pass_fds and the channel), all above 2.
    pub keep_fds: Vec<RawFd>,
    pub close_fds: bool,
}

/// Everything the child reads, frozen before the clone.
pub struct Plan {
    pub route: Route,
    /// Namespace flags for clone3 (Route::Clone) or unshare (Route::Unshare); never time.
    pub ns_flags: i32,
    pub joins: Vec<(RawFd, i32)>,
    pub user_new: bool,
    pub become_root_gid: bool,
    pub become_root_uid: bool,
    pub time_new: bool,
    pub offsets: CString,
    pub mnt_new: bool,
    pub mount_proc: bool,
    /// Bring `lo` up (a new network namespace and `Spec::loopback`).
    pub loopback: bool,
    pub hostname: Option<Vec<u8>>,
    pub domainname: Option<Vec<u8>>,
    pub pid_new: bool,
    /// The namespaces apply to this child's children only (a pid namespace entered by unshare
    /// or setns, or a time namespace without exec): the first child starts the init (PID 1,
    /// with a new pid namespace and `init`) or else the worker, and relays its status.
    pub stage: bool,
    pub init: bool,
    pub pdeathsig: i32,
    pub parent_pid: i32,
    /// A relay's pidfd for itself, set before it starts its child (-1: none): the child
    /// checks after its PR_SET_PDEATHSIG that the relay has not died before.
    pub relay_pidfd: AtomicI32,
    pub channel: RawFd,
    /// Where the worker of a spawned child's init or relay runs: (lowest address, size).
    pub worker_stack: (u64, u64),
    /// Where the init that a spawned child's relay starts runs.
    pub init_stack: (u64, u64),
    pub exec: Option<ExecPlan>,
    pub creds: Creds,
}

// SAFETY: the raw pointers point into CStrings owned by the same plan, which is never
// mutated after it is built; sending it to another thread moves those owners along.
unsafe impl Send for Plan {}

impl Plan {
    /// Freezes `spec` (and the program, for `spawn`) into a plan, before any fd is made (see
    /// `set_channel`). `forked` is the Python (`run`) path, where exec never comes.
    pub fn new(spec: &Spec, program: Option<&Program>, forked: bool) -> Result<Plan> {
        spec.check().map_err(Error::condition)?;
        let has = |k: Kind| spec.new.contains(&k);
        let joins_pid = spec.join.iter().any(|(k, _)| *k == Kind::Pid);
        let route = if forked || !spec.join.is_empty() {
            Route::Unshare
        } else {
            Route::Clone
        };
        let ns_flags = Kind::flags(&spec.new) & !Kind::Time.flag();
        let pid_new = has(Kind::Pid);
        let stage = match route {
            Route::Clone => false,
            Route::Unshare => pid_new || joins_pid || (forked && has(Kind::Time)),
        };
        // nsenter's order: the user namespace last on the first pass (root), and first on the
        // second pass (a caller who needs its privileges for the others); see child.rs.
        // Joining one's own user namespace is refused (EINVAL): skipped, as nsenter does.
        let joins = spec
            .join
            .iter()
            .filter(|(k, fd)| *k != Kind::User || !is_own_user_ns(*fd))
            .map(|(k, fd)| (*fd, k.flag()))
            .collect();
        // SAFETY: geteuid/getegid/getpid cannot fail.
        let (euid, egid, me) = unsafe { (libc::geteuid(), libc::getegid(), libc::getpid()) };
        let root_if = |m: &Option<IdMap>, own: u32| {
            m.as_ref()
                .is_some_and(|m| m.maps_inside(0) && !m.maps_outside(own))
        };
        let exec = program.map(exec_plan).transpose()?;
        Ok(Plan {
            route,
            ns_flags,
            joins,
            user_new: has(Kind::User),
            become_root_gid: root_if(&spec.gid_map, egid),
            become_root_uid: root_if(&spec.uid_map, euid),
            time_new: has(Kind::Time),
            offsets: cstring("time offsets", spec.offsets_text().as_bytes())?,
            mnt_new: has(Kind::Mnt),
            mount_proc: spec.mount_proc,
            loopback: spec.loopback && has(Kind::Net),
            hostname: spec.hostname.as_ref().map(|h| h.as_bytes().to_vec()),
            domainname: spec.domainname.as_ref().map(|d| d.as_bytes().to_vec()),
            pid_new,
            stage,
            init: spec.init && pid_new,
            pdeathsig: spec.pdeathsig,
            parent_pid: me,
            relay_pidfd: AtomicI32::new(-1),
            channel: -1,
            worker_stack: (0, 0),
            init_stack: (0, 0),
            exec,
            creds: spec.creds.clone(),
        })
    }

    /// Gives the plan the child's end of the sync socket, which the program's process keeps
    /// until its exec.
    pub fn set_channel(&mut self, fd: RawFd) {
        self.channel = fd;
        if let Some(e) = &mut self.exec {
            if let Err(at) = e.keep_fds.binary_search(&fd) {
                e.keep_fds.insert(at, fd);
            }
        }
    }

    /// Points the plan at the stacks its clones run on: (lowest address, size) each.
    pub fn set_stacks(&mut self, worker: (u64, u64), init: (u64, u64)) {
        self.worker_stack = worker;
        self.init_stack = init;
    }

    /// Whether the child may share the parent's memory (CLONE_VM): when it execs or becomes
    /// the init (which runs on its own stack, with raw system calls only, and starts the
    /// program with CLONE_VM|CLONE_VFORK), not a relay, and makes no time namespace (it
    /// enters that with setns, which needs a process of its own).
    pub fn can_share_memory(&self) -> bool {
        self.route == Route::Clone && self.exec.is_some() && !self.stage && !self.time_new
    }
}

fn exec_plan(p: &Program) -> Result<ExecPlan> {
    p.check().map_err(Error::condition)?;
    let argv: Vec<CString> = p
        .argv
        .iter()
        .map(|a| cstring("an argument", a))
        .collect::<Result<_>>()?;
    let envp: Vec<CString> = p
        .envp
        .iter()
        .map(|e| cstring("an environment entry", e))
        .collect::<Result<_>>()?;
    let executables = p
        .executables
        .iter()
        .map(|e| cstring("the program path", e))
        .collect::<Result<_>>()?;
    let cwd = p.cwd.as_deref().map(|c| cstring("cwd", c)).transpose()?;
    let mut keep_fds: Vec<RawFd> = p.pass_fds.iter().copied().filter(|fd| *fd > 2).collect();
    keep_fds.sort_unstable();
    keep_fds.dedup();
    Ok(ExecPlan {
        argv_ptrs: pointers(&argv),
        envp_ptrs: pointers(&envp),
        argv,
        envp,
        executables,
        cwd,
        stdio: p.stdio,
        pass_fds: p.pass_fds.clone(),
        keep_fds,
        close_fds: p.close_fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_text_floors_negative_values() {
        let spec = Spec {
            new: vec![Kind::Time],
            monotonic_ns: Some(-1_500_000_000),
            boottime_ns: Some(86_400_000_000_000),
            ..Spec::default()
        };
        assert_eq!(
            spec.offsets_text(),
            "monotonic -2 500000000\nboottime 86400 0\n"
        );
    }

    #[test]
    fn check_names_conflicts() {
        let both = Spec {
            new: vec![Kind::Net],
            join: vec![(Kind::Net, 5)],
            ..Spec::default()
        };
        assert!(both.check().unwrap_err().contains("both new and joined"));
        let proc_only = Spec {
            mount_proc: true,
            ..Spec::default()
        };
        assert!(proc_only.check().unwrap_err().contains("mnt=True"));
        let host = Spec {
            hostname: Some("x".repeat(65)),
            new: vec![Kind::Uts],
            ..Spec::default()
        };
        assert!(host.check().unwrap_err().contains("at most 64"));
    }

    #[test]
    fn routes_and_stages() {
        let pid = Spec {
            new: vec![Kind::Pid, Kind::Time],
            init: true,
            ..Spec::default()
        };
        let p = Plan::new(&pid, None, false).unwrap();
        assert_eq!(p.route, Route::Clone);
        assert_eq!(p.ns_flags, libc::CLONE_NEWPID);
        assert!(!p.stage && p.init && p.time_new);
        let p = Plan::new(&pid, None, true).unwrap();
        assert_eq!(p.route, Route::Unshare);
        assert!(p.stage);
        let join = Spec {
            join: vec![(Kind::Pid, 5)],
            ..Spec::default()
        };
        assert!(Plan::new(&join, None, false).unwrap().stage);
    }

    #[test]
    fn exec_plan_keeps_passed_fds_and_channel_sorted() {
        let prog = Program {
            argv: vec![b"true".to_vec()],
            executables: vec![b"/bin/true".to_vec()],
            pass_fds: vec![9, 1, 4, 9],
            stdio: [-1; 3],
            close_fds: true,
            ..Program::default()
        };
        let mut plan = Plan::new(&Spec::default(), Some(&prog), false).unwrap();
        plan.set_channel(7);
        let e = plan.exec.as_ref().unwrap();
        assert_eq!(e.keep_fds, vec![4, 7, 9]);
        assert_eq!(e.argv_ptrs.len(), 2);
        assert!(e.argv_ptrs[1].is_null());
        let bad = Program {
            argv: vec![b"a\0b".to_vec()],
            ..prog
        };
        assert!(exec_plan(&bad).is_err());
    }

    #[test]
    fn program_check_refuses_nul_bytes() {
        let ok = Program {
            argv: vec![b"true".to_vec()],
            executables: vec![b"/bin/true".to_vec()],
            envp: vec![b"A=1".to_vec()],
            cwd: Some(b"/".to_vec()),
            ..Program::default()
        };
        assert_eq!(ok.check(), Ok(()));
        let env = Program {
            envp: vec![b"A=1\0".to_vec()],
            ..ok.clone()
        };
        assert!(env.check().unwrap_err().contains("environment entry"));
        let cwd = Program {
            cwd: Some(b"/\0x".to_vec()),
            ..ok.clone()
        };
        assert!(cwd.check().unwrap_err().contains("cwd"));
        let empty = Program { argv: vec![], ..ok };
        assert!(empty.check().is_err());
    }
}
