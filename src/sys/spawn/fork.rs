//! The Python path (`pyns.run`): glibc fork(2) between the interpreter's own fork hooks, as
//! `os.fork` does, then the same set-up as a spawned child; the worker returns to Python.

use std::os::fd::{AsRawFd, OwnedFd};

use super::channel::{self, Channel};
use super::child::{self, Forker};
use super::raw;
use super::spec::{Plan, Spec};
use super::trampoline::{self, Stack};
use super::{Child, Failed, Init, Starting};
use crate::sys::error::Error;
use crate::sys::ns::Kind;
use crate::sys::{caps, isolate, pidfd};

/// The interpreter's fork hooks (PyOS_BeforeFork, PyOS_AfterFork_Parent,
/// PyOS_AfterFork_Child), passed in so that this module needs no Python.
pub struct ForkHooks {
    pub before: unsafe extern "C" fn(),
    pub after_parent: unsafe extern "C" fn(),
    pub after_child: unsafe extern "C" fn(),
}

/// What `fork` returns in each process.
pub enum Forked {
    /// In the caller: the child, in its set-up.
    Parent(Starting),
    /// In the child that runs the function, after the set-up.
    Child,
}

struct HookForker<'a> {
    hooks: &'a ForkHooks,
    /// The signal mask the worker gets back.
    mask: u64,
}

impl HookForker<'_> {
    /// fork(2) between the hooks; 0 in the child (its signal mask restored), the pid in the
    /// parent, which keeps every signal blocked (it becomes a relay or the init).
    fn fork(&self) -> isize {
        raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, None);
        // SAFETY: the hooks are the interpreter's; this process is single-threaded here and
        // holds the GIL (it is a forked child of the caller).
        unsafe { (self.hooks.before)() };
        // SAFETY: glibc's fork resets its own locks in the child.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe { (self.hooks.after_child)() };
            raw::sigprocmask(libc::SIG_SETMASK, self.mask, None);
            return 0;
        }
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        // SAFETY: as above.
        unsafe { (self.hooks.after_parent)() };
        if pid < 0 {
            -(errno as isize)
        } else {
            pid as isize
        }
    }
}

impl Forker for HookForker<'_> {
    fn start_worker(&self, _plan: &Plan) -> isize {
        self.fork()
    }
}

/// Whether the calling thread can make the namespaces itself, so that the function's process
/// is the only copy of the caller (pid without user, time, mnt or joins, with CAP_SYS_ADMIN):
/// otherwise a first child makes them and relays, and the worker is a second copy.
fn in_place(spec: &Spec) -> bool {
    let allowed = [Kind::Uts, Kind::Ipc, Kind::Net, Kind::Pid, Kind::Cgroup];
    spec.new.contains(&Kind::Pid)
        && spec.join.is_empty()
        && spec.new.iter().all(|k| allowed.contains(k))
        && caps::Sets::of(None).is_ok_and(|s| s.effective & (1 << caps::CAP_SYS_ADMIN) != 0)
}

/// Forks the calling Python process into the namespaces of `spec` (fork(2) with the
/// interpreter's hooks, like os.fork). The caller must hold the GIL. In the parent, `poll`
/// the result until the child is ready; in the child, run the function.
pub fn fork(spec: &Spec, hooks: &ForkHooks) -> Result<Forked, Failed> {
    let (channel, child_end) = Channel::pair()?;
    let mut plan = Box::new(Plan::new(spec, None, child_end.as_raw_fd(), true)?);
    let stack = Stack::new()?;
    plan.set_stacks(&stack);
    if in_place(spec) {
        return fork_in_place(spec, hooks, channel, child_end, plan, stack);
    }
    let mut mask = 0;
    raw::sigprocmask(libc::SIG_BLOCK, 0, Some(&mut mask));
    // SAFETY: the caller holds the GIL, as the hooks require.
    unsafe { (hooks.before)() };
    // SAFETY: glibc's fork resets its own locks in the child.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above, in the child.
        unsafe { (hooks.after_child)() };
        drop(channel);
        let forker = HookForker { hooks, mask };
        return in_child(child::setup(&plan, &forker), child_end);
    }
    let fork_err = Error::last("fork");
    // SAFETY: as above, in the parent.
    unsafe { (hooks.after_parent)() };
    drop(child_end);
    if pid < 0 {
        return Err(Failed::Os(fork_err));
    }
    starting(spec, pid, None, channel, plan, Some(stack))
}

/// The child's end of `fork`: reports the set-up's outcome; returns only to run the function.
fn in_child(setup: Result<(), channel::Failure>, child_end: OwnedFd) -> Result<Forked, Failed> {
    match setup {
        Ok(()) => {
            channel::child_done(child_end.as_raw_fd());
            Ok(Forked::Child)
        }
        Err(f) => {
            channel::child_fail(child_end.as_raw_fd(), f);
            raw::exit(127)
        }
    }
}

/// `fork` when the calling thread can make the namespaces: unshare them on this thread (as
/// `isolate` does), start the light PID 1 (a clone sharing this process's memory, running
/// raw system calls only), fork the worker, which is PID 2, and go back.
fn fork_in_place(
    spec: &Spec,
    hooks: &ForkHooks,
    channel: Channel,
    child_end: OwnedFd,
    plan: Box<Plan>,
    stack: Stack,
) -> Result<Forked, Failed> {
    let iso = isolate::Spec {
        kinds: spec.new.clone(),
        hostname: spec.hostname.clone(),
        domainname: spec.domainname.clone(),
        loopback: false,
        propagation: None,
    };
    let mut guard = isolate::isolate(&iso)?;
    let mut watcher = None;
    if plan.init {
        let mut mask = 0;
        raw::sigprocmask(libc::SIG_BLOCK, raw::ALL_SIGNALS, Some(&mut mask));
        let started = trampoline::start_watcher(&plan);
        raw::sigprocmask(libc::SIG_SETMASK, mask, None);
        match started {
            Ok(w) => watcher = Some(w),
            Err(errno) => {
                let _ = guard.restore();
                return Err(Failed::Os(Error::new("clone the init (PID 1)", errno)));
            }
        }
    }
    // The init holds the stack from here on; it ends (and is reaped) with the worker.
    let init = watcher.map(|(pid, _)| Init::new(pid, stack));
    // SAFETY: the caller holds the GIL, as the hooks require.
    unsafe { (hooks.before)() };
    // SAFETY: glibc's fork resets its own locks in the child.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above, in the child.
        unsafe { (hooks.after_child)() };
        std::mem::forget(init); // the parent's to reap
        drop(channel);
        return in_child(child::adopt(&plan), child_end);
    }
    let fork_err = Error::last("fork");
    // SAFETY: as above, in the parent.
    unsafe { (hooks.after_parent)() };
    drop(child_end);
    let restored = guard.restore();
    if let Some((_, ctl)) = watcher {
        // The worker exists (or never will): the init may watch it now.
        raw::write(ctl, b"w");
        raw::close(ctl);
    }
    if pid < 0 {
        return Err(Failed::Os(fork_err));
    }
    let starting = starting(spec, pid, init, channel, plan, None)?;
    restored?;
    Ok(starting)
}

/// The parent's side of a forked child in its set-up.
fn starting(
    spec: &Spec,
    pid: libc::pid_t,
    init: Option<Init>,
    channel: Channel,
    plan: Box<Plan>,
    stack: Option<Stack>,
) -> Result<Forked, Failed> {
    let pidfd = match pidfd::pidfd_open(pid, 0) {
        Ok(fd) => fd,
        Err(e) => {
            // SAFETY: our unreaped child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            return Err(Failed::Os(e));
        }
    };
    Ok(Forked::Parent(Starting {
        child: Some(Child { pid, pidfd, init }),
        channel,
        uid_map: spec.uid_map.clone(),
        gid_map: spec.gid_map.clone(),
        setgroups: spec.setgroups,
        exec: false,
        argv0: Vec::new(),
        cwd: None,
        _plan: plan,
        _stack: stack,
    }))
}
